"""A streaming PostgreSQL pair, primary and hot standby, made by the tests themselves.

Why not a replica of the CI PostgreSQL: the shared cluster's pg_hba.conf has no replication
entry (trust for ordinary connections only) and must not be reconfigured, so pg_basebackup
from it is refused. Instead this module builds both sides with the installed server's own
tools: initdb a private primary (wal_level=replica, replication trusted from 127.0.0.1), then
pg_basebackup -R into a second folder and start that as a streaming hot standby. Both listen
on free loopback ports (no Unix sockets), run with fsync off and small buffers, and live in a
temporary folder removed afterwards. As root the server binaries run as the `postgres` OS
user (PostgreSQL refuses root), so the folder is made where that user can reach it (not under
pytest's root-only temporary folder).

The whole API (a few seconds to start)::

    with streaming_pair() as pair:
        pair.primary_url, pair.replica_url   # postgresql+asyncpg:// URLs of one database
        pair.pause_replay(); pair.resume_replay()   # lag on demand (WAL still streams)
        pair.stop_replica(); pair.start_replica()   # the standby crashes, and comes back
        pair.replica_stopped()
        pair.wait_replayed()                        # the standby shows every commit so far
        pair.restore()                              # running, replaying and caught up again
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import free_port


def _server_bin() -> Path:
    """The newest installed PostgreSQL server's binaries (Debian: /usr/lib/postgresql/N/bin)."""
    configured = os.environ.get("PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found under "
            "/usr/lib/postgresql/*/bin: apt-get install postgresql (scripts/system-deps "
            "installs it), or set PG_BIN"
        )
    return found[-1].parent


# Both sides: quick to start and cheap to run on a shared host; durability is not the point.
SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 40
shared_buffers = 16MB
fsync = off
full_page_writes = off
synchronous_commit = on
wal_level = replica
max_wal_senders = 4
wal_keep_size = 128MB
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
logging_collector = off
log_min_messages = warning
"""

HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""

START_TIMEOUT = 30.0


class ReplicationError(RuntimeError):
    """The pair did not reach the state asked for in time."""


@dataclass
class Cluster:
    data: Path
    port: int
    log: Path

    def output(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Pair:
    """A primary and its streaming standby; `database` exists on both (made on the primary)."""

    primary: Cluster
    replica: Cluster
    database: str
    bin: Path

    @property
    def primary_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.primary.port}/{self.database}"

    @property
    def replica_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.replica.port}/{self.database}"

    def sql(self, cluster: Cluster, statement: str, database: str = "postgres") -> str:
        """One statement through psql; its single value (or rows, |-separated) as text."""
        result = subprocess.run(
            [
                *(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port)),
                *("-U", "postgres", "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1"),
                *("-c", statement),
            ],
            capture_output=True,
            text=True,
            timeout=15,
        )
        if result.returncode != 0:
            raise ReplicationError(f"{statement!r} on port {cluster.port}: {result.stderr.strip()}")
        return result.stdout.strip()

    def pause_replay(self) -> None:
        """The standby stops applying WAL (it still receives it): its reads go stale."""
        self.sql(self.replica, "SELECT pg_wal_replay_pause()")
        _until(
            lambda: self.sql(self.replica, "SELECT pg_get_wal_replay_pause_state()") == "paused",
            "replay paused",
            self,
        )

    def resume_replay(self) -> None:
        self.sql(self.replica, "SELECT pg_wal_replay_resume()")

    def stop_replica(self) -> None:
        """The standby goes away at once (immediate mode: a crash, connections dropped)."""
        _pg_ctl(self.bin, "stop", "-D", str(self.replica.data), "-m", "immediate", "-w")

    def replica_stopped(self) -> bool:
        return not (self.replica.data / "postmaster.pid").exists()

    def start_replica(self) -> None:
        """Start the standby again and wait until it streams from the primary."""
        _start(self.bin, self.replica)
        self.wait_streaming()

    def restore(self) -> None:
        """Back to how the pair was handed out: the standby running, streaming and replaying,
        caught up with the primary (a test before may have stopped it or paused its replay)."""
        if self.replica_stopped():
            self.start_replica()
        self.resume_replay()
        self.wait_streaming()
        self.wait_replayed()

    def wait_streaming(self, timeout: float = START_TIMEOUT) -> None:
        _until(
            lambda: (
                self.sql(
                    self.primary,
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                )
                == "1"
            ),
            "the standby streaming",
            self,
            timeout,
        )

    def wait_replayed(self, timeout: float = START_TIMEOUT) -> None:
        """Until the standby has replayed everything the primary has flushed by now."""
        lsn = self.sql(self.primary, "SELECT pg_current_wal_flush_lsn()")
        _until(
            lambda: self.sql(self.replica, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t",
            f"the standby replaying past {lsn}",
            self,
            timeout,
        )


def _until(check: object, what: str, pair: Pair | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except ReplicationError as exc:  # not up yet
            last = exc
        time.sleep(0.05)
    logs = ""
    if pair is not None:
        logs = f"\nprimary log:\n{pair.primary.output()}\nstandby log:\n{pair.replica.output()}"
    raise ReplicationError(f"no {what} within {timeout:g} s ({last}){logs}")


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL's server tools refuse to run as root: as root, run them as `postgres`."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(
        _as_postgres(argv), capture_output=True, text=True, timeout=START_TIMEOUT
    )
    if result.returncode != 0:
        raise ReplicationError(f"{what} failed ({result.returncode}): {result.stderr.strip()}")


def _pg_ctl(bin_dir: Path, *args: str) -> None:
    _run([str(bin_dir / "pg_ctl"), *args], f"pg_ctl {args[0]}")


def _start(bin_dir: Path, cluster: Cluster) -> None:
    # -l: the server's own log in its folder (owned by postgres); -t: pg_ctl's wait.
    _pg_ctl(bin_dir, "start", "-D", str(cluster.data), "-l", str(cluster.log), "-w", "-t", "30")


def _stop_quietly(bin_dir: Path, cluster: Cluster) -> None:
    if (cluster.data / "postmaster.pid").exists():
        with contextlib.suppress(ReplicationError, subprocess.TimeoutExpired):
            _pg_ctl(bin_dir, "stop", "-D", str(cluster.data), "-m", "immediate", "-w")


@contextlib.contextmanager
def streaming_pair(database: str = "conduit") -> Iterator[Pair]:
    """A primary and a hot standby streaming from it, with `database` made on the primary and
    replayed on the standby; both stopped (immediate mode) and their folder removed after,
    whatever happened."""
    bin_dir = _server_bin()
    root = Path(tempfile.mkdtemp(prefix="conduit-replication-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary = Cluster(root / "primary", free_port(), root / "primary.log")
    replica = Cluster(root / "replica", free_port(), root / "replica.log")
    pair = Pair(primary, replica, database, bin_dir)
    try:
        _run(
            [
                *(str(bin_dir / "initdb"), "-D", str(primary.data), "-U", "postgres"),
                *("-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                "--no-instructions",
            ],
            "initdb",
        )
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(SERVER_SETTINGS.format(port=primary.port))
        (primary.data / "pg_hba.conf").write_text(HBA)
        _start(bin_dir, primary)
        pair.sql(primary, f'CREATE DATABASE "{database}"')
        _run(
            [
                *(str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port)),
                *("-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream"),
                *("--checkpoint=fast", "--no-sync"),
            ],
            "pg_basebackup",
        )
        # -R wrote standby.signal and primary_conninfo; the copied settings name the
        # primary's port, which the later line overrides.
        with (replica.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        _start(bin_dir, replica)
        pair.wait_streaming()
        pair.wait_replayed()
        yield pair
    finally:
        _stop_quietly(bin_dir, replica)
        _stop_quietly(bin_dir, primary)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def migrated_pair() -> AsyncIterator[Pair]:
    """A streaming pair (above) with the app's schema made on the primary by its migrations,
    and replayed on the standby before it is handed out."""
    # Imported here: the pair itself needs nothing of the app.
    from service.config import load_config
    from service.db import create_engine
    from tests.conftest import migrate_to_head

    with streaming_pair() as made:
        engine = create_engine(load_config("testing", database_url=made.primary_url))
        try:
            await migrate_to_head(engine)
        finally:
            await engine.dispose()
        made.wait_replayed()
        yield made

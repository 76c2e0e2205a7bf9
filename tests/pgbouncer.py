"""PgBouncer (Debian's package) in transaction pooling mode, started by the tests on a free
loopback port with its own configuration file in a temporary folder, in front of the test
database (trust authentication, as the local PostgreSQL has).

The configuration is the README's ("Scaling out"), with small pools: the PostgreSQL the tests
use is shared. Further entries (`more`: a name for each, e.g. a replica's) get a pool each.
PgBouncer refuses to run as root; as root it is started with `-u postgres` (it reads its
files first, then drops to that user), so it logs to its standard error, which goes to a
file the tests read.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.live import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PSQL = shutil.which("psql") or "/usr/bin/psql"

# The settings the README shows; {placeholders} are the test's own.
CONFIG = """
[databases]
{databases}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
stats_users = {user}
"""


@dataclass
class Pooler:
    port: int
    log: Path
    pool_size: int
    user: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None  # None until started

    def stop(self) -> None:
        """SIGTERM: PgBouncer's immediate shutdown, every connection to it closed at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start(self) -> None:
        """Started (again) with its configuration, on its port; back once it listens."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            if self.process.poll() is not None:
                pytest.fail(f"pgbouncer exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"pgbouncer not listening in 10 s:\n{self.output()}")
            time.sleep(0.05)

    def url(self, database_url: str, entry: str | None = None) -> str:
        """`database_url` pointed at the pooler instead of PostgreSQL (at its `entry`, when
        that is one of the `more` it was started with)."""
        url = make_url(database_url)
        url = url.set(host="127.0.0.1", port=self.port, database=entry or url.database)
        return url.render_as_string(hide_password=False)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def show(self, what: str) -> list[dict[str, str]]:
        """A SHOW command on PgBouncer's console (SERVERS, POOLS, ...), as rows. psql, as the
        console speaks only the simple query protocol."""
        result = subprocess.run(
            [
                PSQL,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                "pgbouncer",
                "--csv",
                "-c",
                f"SHOW {what}",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return list(csv.DictReader(io.StringIO(result.stdout)))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _entry(name: str, database_url: str) -> str:
    url = make_url(database_url)
    return f"{name} = host={url.host or '127.0.0.1'} port={url.port or 5432} dbname={url.database}"


@contextlib.contextmanager
def pgbouncer(
    tmp: Path, database_url: str, pool_size: int = 4, more: Mapping[str, str] | None = None
) -> Iterator[Pooler]:
    """PgBouncer in front of `database_url`'s database (and of each of `more`, by the name
    given: its own pool of `pool_size` server connections), stopped afterwards."""
    if not Path(PGBOUNCER).exists():
        pytest.fail(
            "pgbouncer is not installed: apt-get install -y pgbouncer "
            "(scripts/system-deps installs it)"
        )
    url = make_url(database_url)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "userlist.txt").write_text(f'"{url.username or "postgres"}" ""\n')
    listen_port = free_port()
    config = tmp / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(
            databases="\n".join(
                _entry(name, entry_url)
                for name, entry_url in {str(url.database): database_url, **(more or {})}.items()
            ),
            listen_port=listen_port,
            tmp=tmp,
            pool_size=pool_size,
            user=url.username or "postgres",
        )
    )
    argv = [PGBOUNCER, str(config)]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "postgres"]
    log = tmp / "pgbouncer.log"
    log.write_bytes(b"")
    pooler = Pooler(listen_port, log, pool_size, url.username or "postgres", argv)
    try:
        pooler.start()
        yield pooler
    finally:
        pooler.stop()

"""Servers and load: start a server as production does, drive it with wrk, sample worker RSS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = Path(__file__).resolve().parent / "lua"


# The PostgreSQL server the bench creates its databases on (any database name in the URL).
DEFAULT_DATABASE = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def checkout_old(rev: str, out: Path) -> Path:
    """`rev` checked out, detached, in a git worktree under `out`: the old side of a side-by-side
    run (its servers start there, on this venv). Remove it with `remove_old`."""
    tree = out / "old-tree"
    if tree.exists():
        remove_old(tree)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return tree


def remove_old(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian's package)")
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the parent pid is the 2nd field after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """Worker processes: the children of the server (skipping the multiprocessing tracker)."""
        pids = []
        for pid in _children(self.process.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        return sorted(pids) or [self.process.pid]

    def worker_rss(self) -> dict[int, float]:
        return {pid: round(rss_mb(pid), 1) for pid in self.workers()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_server(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    log_dir: Path,
    cwd: Path = ROOT,
) -> Server:
    """Start a server without waiting for it (see `wait_ready`), so two can start together."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(name, port, process, log_path)


# A guard against a server that never starts, not a measure: on the shared two-core host under
# load 13 the service took over 60 s to answer its first /healthz, the stack limit beside it.
START_TIMEOUT = 180.0


def wait_ready(
    server: Server, health_path: str = "/healthz", timeout: float = START_TIMEOUT
) -> Server:
    """The server once it answers `health_path` with 200; stopped, and RuntimeError, if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early; see {server.log_path}")
        try:
            with urllib.request.urlopen(server.url + health_path, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(
        f"{server.name} did not answer {health_path} within {timeout}s; see {server.log_path}"
    )


def start_server(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    log_dir: Path,
    health_path: str = "/healthz",
    timeout: float = START_TIMEOUT,
    cwd: Path = ROOT,
) -> Server:
    return wait_ready(spawn_server(name, command, env, port, log_dir, cwd), health_path, timeout)


@dataclass
class LoadResult:
    scenario: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int
    shed_503: int = 0  # of non_2xx: logins refused by the hashing queue (by design)
    ratio_to_ceiling: float | None = None
    # The service's figure over its stack-limit twin's (bench/stack_limit.py), same scenario
    # and connections; None for a scenario without a twin.
    ratio_to_stack_limit: float | None = None
    server: str = "service"  # or "bare", "stack_limit"
    statements_per_request: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def unexpected(self) -> int:
        """Errors and non-2xx answers other than designed load shedding."""
        return self.errors + self.non_2xx - self.shed_503

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_wrk(
    server_url: str,
    scenario: str,
    *,
    connections: int,
    seconds: float,
    data_file: Path,
    threads: int = 2,
) -> LoadResult:
    """One bounded wrk run; wrk's own timeout keeps a stuck server from hanging the bench."""
    wrk = require_wrk()
    env = {
        **os.environ,
        "SCENARIO": scenario,
        "BENCH_LUA": str(LUA_DIR),
        "BENCH_DATA": str(data_file),
    }
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_DIR / "scenario.lua"),
        server_url,
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed for {scenario}: {done.stderr or done.stdout}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    duration_s = raw["duration_us"] / 1e6
    errors = (
        raw["errors_connect"] + raw["errors_read"] + raw["errors_write"] + raw["errors_timeout"]
    )
    return LoadResult(
        scenario=scenario,
        connections=connections,
        seconds=round(duration_s, 2),
        requests=raw["requests"],
        rps=round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
        non_2xx=raw["non_2xx"],
        shed_503=raw.get("shed_503", 0),
    )

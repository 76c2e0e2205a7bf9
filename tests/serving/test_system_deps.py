"""scripts/system-deps: what `make test` and .ci/run need from the system, provided or named.

Run as an unprivileged user here, so it can install nothing and must say so; what it does as
root on a fresh Debian (apt-get install) is what .ci/run's `--strict` call proves on every run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ROOT, free_port

SCRIPT = ROOT / "scripts" / "system-deps"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
USER_PATH = "/usr/local/bin:/usr/bin:/bin"  # a Debian user's: no /usr/sbin, where nginx is


@pytest.fixture(scope="module")
def script() -> Iterator[Path]:
    """A copy the unprivileged user can read (a clone under /root or mktemp -d is closed)."""
    folder = Path(tempfile.mkdtemp(prefix="system-deps-"))
    folder.chmod(0o755)
    copy = folder / "system-deps"
    shutil.copy(SCRIPT, copy)
    copy.chmod(0o755)
    yield copy
    shutil.rmtree(folder)


def run(
    script: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOBODY, "bash", str(script), *args],
        cwd="/",
        env={"PATH": USER_PATH, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def test_names_in_one_line_what_it_cannot_provide(script):
    missing = {"CHROMIUM_PATH": "/nonexistent/chromium"}
    result = run(script, env=missing)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("system-deps: missing chromium (/nonexistent/chromium), root (")
    assert "as root on Debian this installs them (apt-get install chromium)" in lines[0]
    # nginx lives in /usr/sbin, outside a user's PATH: still found.
    assert "nginx" not in lines[0]
    strict = run(script, "--strict", env=missing)
    assert strict.returncode == 1
    assert strict.stderr == result.stderr


def test_names_the_postgresql_server_tools_when_missing(script):
    """The replica tests make their own primary and standby with these (tests/replication.py)."""
    missing = {"PG_BIN": "/nonexistent/bin"}
    result = run(script, env=missing)
    assert result.returncode == 0, result.stderr
    assert (
        "PostgreSQL server tools: initdb, pg_ctl, pg_basebackup in /nonexistent/bin "
        "(package postgresql)" in result.stderr
    )
    assert "apt-get install postgresql" in result.stderr
    assert run(script, "--strict", env=missing).returncode == 1
    # Where Debian puts them (this machine has them): nothing to say.
    assert "PostgreSQL server tools" not in run(script).stderr


def test_install_needs_only_a_working_venv(script):
    result = run(script, "install", env={"CHROMIUM_PATH": "/nonexistent/chromium"})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_starts_redis_when_installed_but_not_running(script):
    port = free_port()
    env = {"TEST_REDIS_URL": f"redis://127.0.0.1:{port}/4"}
    assert not redis_ping(port)
    try:
        started = run(script, env=env)
        assert started.returncode == 0, started.stderr
        assert f"system-deps: started Redis on 127.0.0.1:{port}" in started.stdout
        assert redis_ping(port)
        again = run(script, env=env)
        assert "started Redis" not in again.stdout
        assert "Redis" not in again.stderr
    finally:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=2) as sock,
        ):
            sock.sendall(b"SHUTDOWN NOSAVE\r\n")
            sock.recv(64)


def test_make_runs_it_before_installing_and_testing():
    """On a fresh clone `make test` runs the script first (python3-venv before `venv`)."""
    # As a person types it: not inside another make, no PYTEST_ARGS or PYTHON of the caller's.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "PYTHON"}
    plan = subprocess.run(
        ["make", "--dry-run", "--always-make", "test"],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key not in outer},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    steps = [
        line for line in plan if "system-deps" in line or "-m venv" in line or "pytest" in line
    ]
    assert steps == [
        "PYTHON=python3 bash scripts/system-deps test",
        "PYTHON=python3 bash scripts/system-deps install",
        "python3 -m venv .tools",
        ".venv/bin/pytest ",
    ]

"""A real server for end-to-end tests: hypercorn in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Live:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# A server's start on a shared two-core host: over 30 s seen at load 12 (tests/serving).
START_SECONDS = 120.0


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = START_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not ready in {timeout}s:\n{log.read_text()}")


def start_server(
    tmp_path: Path,
    env: dict[str, str],
    command: Sequence[str] | None = None,
    name: str = "server",
    port: int | None = None,
) -> Live:
    """Start `command` (default: hypercorn with hypercorn.toml and asgi:app); not yet ready."""
    port = port or free_port()
    argv = list(command or [str(BIN / "hypercorn"), "--config", "hypercorn.toml", "asgi:app"])
    argv += ["--bind", f"127.0.0.1:{port}"]
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: tests can signal all of it
        )
    return Live(port, process, log)


def stop_servers(*servers: Live) -> None:
    """SIGTERM to each still running, then wait for all (killed past 30 s)."""
    running = [live for live in servers if live.process.poll() is None]
    for live in running:
        live.process.send_signal(signal.SIGTERM)
    for live in running:
        try:
            live.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            live.process.kill()
            live.process.wait()


@contextmanager
def live_server(
    tmp_path: Path,
    env: dict[str, str],
    command: Sequence[str] | None = None,
    name: str = "server",
    port: int | None = None,
) -> Iterator[Live]:
    """Start `command` (default: hypercorn with hypercorn.toml and asgi:app) and stop it after."""
    live = start_server(tmp_path, env, command, name, port)
    try:
        wait_ready(live.url, live.process, live.log)
        yield live
    finally:
        stop_servers(live)


@contextmanager
def live_servers(
    tmp_path: Path,
    env: dict[str, str],
    command: Sequence[str],
    names: Sequence[str],
    timeout: float = 60,
) -> Iterator[list[Live]]:
    """Several servers started at once (their start-ups overlap), each ready within `timeout`
    seconds, stopped together after."""
    servers: list[Live] = []
    try:
        for name in names:
            servers.append(start_server(tmp_path, env, command, name))
        for live in servers:
            wait_ready(live.url, live.process, live.log, timeout=timeout)
        yield servers
    finally:
        stop_servers(*servers)

"""Graceful drain: SIGTERM to a live multi-worker server loses no request in flight.

Slow requests are real ones: logins with a deliberately high argon2 cost, so they spend
seconds in the hashing threads. The test sets its own hashing budget and deadline, so a busy
host neither sheds them (503) nor times them out; it signals once they are in flight (read from
/metrics), not after a guessed sleep. The signal goes either to the launcher alone (docker stop
through tini, Kubernetes) or to its whole process group (tini -g, Ctrl-C, systemd). Stock
`hypercorn --workers 2` in place of the launcher fails both cases of this test (measured: in
each, requests cut off with "Server disconnected without sending a response"). The launcher's
workers ignore SIGTERM and drain when the launcher tells them to, through a pipe each: a
worker killed with SIGKILL (replaced by the launcher) cannot hold the others up, as the
shared multiprocessing.Event of an earlier launcher did (SIGTERM then never stopped it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx
import pytest

from tests.conftest import empty_tables
from tests.live import live_server
from tests.serving.launcher import LAUNCHER, events, in_flight, ready_pids, wait_for

SLOW_HASH = {"ARGON2_TIME_COST": "6", "ARGON2_MEMORY_KIB": "65536", "ARGON2_PARALLELISM": "1"}
# hypercorn.toml's graceful_timeout: the drain must end within it.
GRACEFUL_TIMEOUT = 20


@pytest.fixture
def server_env(settings):
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "WEB_CONCURRENCY": "2",
        "HASH_THREADS": "4",
        # The test's own budget: however busy the host, slow logins are neither shed nor cut.
        "HASH_QUEUE_SECONDS": "600",
        "REQUEST_TIMEOUT_SECONDS": "600",
        "DB_STATEMENT_TIMEOUT_MS": "600000",
        **SLOW_HASH,
    }


@pytest.mark.parametrize(
    "target",
    [
        "launcher",  # what docker stop (through tini) and Kubernetes do: PID 1 only
        "process group",  # tini -g, a shell's Ctrl-C, systemd's default KillMode
        "launcher, after a worker was killed",  # OOM killer, a crash: then SIGTERM
    ],
)
async def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    tmp_path, server_env, engine, target
):
    try:
        with live_server(tmp_path, server_env, LAUNCHER) as server:
            first = ready_pids(server, 2)
            if "killed" in target:
                os.kill(first[0], signal.SIGKILL)
                wait_for(lambda: events(server, "worker_exited"), what="the worker's death")
                ready_pids(server, 3)  # its replacement serves
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                user = {"username": "drain", "email": "drain@example.com", "password": "pw-drain-1"}
                made = await http.post("/api/users", json={"user": user})
                assert made.status_code == 201, made.text
                login = {"user": {"email": user["email"], "password": user["password"]}}

                started = time.monotonic()
                slow = [
                    asyncio.create_task(http.post("/api/users/login", json=login)) for _ in range(6)
                ]
                fast = [asyncio.create_task(http.get("/api/articles")) for _ in range(20)]
                for _ in range(1200):  # until the slow ones are being served
                    if await in_flight(http) >= len(slow):
                        break
                    await asyncio.sleep(0.05)
                signalled = time.monotonic()
                if target == "process group":
                    os.killpg(server.process.pid, signal.SIGTERM)
                else:
                    server.process.send_signal(signal.SIGTERM)
                results = await asyncio.gather(*slow, *fast, return_exceptions=True)
                failed = [r for r in results if not isinstance(r, httpx.Response)]
                assert not failed, failed
                assert [r.status_code for r in results] == [200] * len(results)
                elapsed = time.monotonic() - started
                assert elapsed > 0.5

            # New connections are refused (not queued on a socket nobody accepts from).
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=server.url, timeout=3) as fresh:
                with pytest.raises(httpx.ConnectError):
                    await fresh.get("/healthz")
            assert server.process.wait(timeout=30) == 0
            assert time.monotonic() - signalled < GRACEFUL_TIMEOUT
            log = server.output()
            assert '"event": "shutdown"' in log
            assert '"event": "stopped", "exitcode": 0' in log
    finally:
        await empty_tables(engine)


def test_launcher_refuses_bad_worker_counts(tmp_path):
    import subprocess

    for value in ("zero", "0"):
        done = subprocess.run(
            [*LAUNCHER, "--bind", "127.0.0.1:1"],
            env={"WEB_CONCURRENCY": value, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode != 0
        assert "WEB_CONCURRENCY" in done.stderr or "at least 1" in done.stderr
    assert sys.executable

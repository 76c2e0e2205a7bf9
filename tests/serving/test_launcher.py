"""The launcher around the workers: what it refuses, when it gives up, what it cleans up after a
worker dies, and how a drain treats open keep-alive connections and the accept queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from multiprocessing import Pipe

import httpx
import pytest
from hypercorn.config import Config
from sqlalchemy import text

from service import serve_worker
from tests.conftest import empty_tables
from tests.live import ROOT, free_port, live_server
from tests.serving.launcher import LAUNCHER, events, gauge, ready_pids, wait_for


@pytest.fixture
def server_env(settings):
    return {"APP_ENV": "testing", "DATABASE_URL": settings.database_url, "WEB_CONCURRENCY": "2"}


def test_bad_configuration_names_every_variable_and_exits_before_binding():
    port = free_port()
    done = subprocess.run(
        [*LAUNCHER, "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "APP_ENV": "production", "DB_POOL_SIZE": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for variable in ("SECRET_KEY", "DATABASE_URL", "DB_POOL_SIZE"):
        assert variable in lines[0]
    assert "serving" not in done.stdout + done.stderr
    with socket.socket() as probe:  # nothing was left bound
        probe.bind(("127.0.0.1", port))


def test_workers_that_cannot_start_make_the_launcher_give_up(tmp_path, server_env):
    broken = tmp_path / "broken_app.py"
    broken.write_text("raise RuntimeError('this app cannot start')\n")
    env = {**server_env, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    port = free_port()
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [*LAUNCHER, "--bind", f"127.0.0.1:{port}", "broken_app:app"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    output = log.read_text()
    assert done.returncode == 3, output
    assert '"event": "giving_up"' in output
    assert output.count('"was_serving": false') >= 5
    assert '"event": "stopped", "exitcode": 3' in output


async def test_a_killed_workers_gauges_are_marked_dead(tmp_path, server_env, engine):
    # Slow logins keep requests in flight on both workers when one is killed.
    env = {
        **server_env,
        "ARGON2_TIME_COST": "8",
        "ARGON2_MEMORY_KIB": "65536",
        "HASH_QUEUE_SECONDS": "600",
        "REQUEST_TIMEOUT_SECONDS": "600",
        "DB_STATEMENT_TIMEOUT_MS": "600000",
        "HASH_THREADS": "4",
    }
    try:
        with live_server(tmp_path, env, LAUNCHER) as server:
            first = ready_pids(server, 2)
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
                user = {"username": "gauge", "email": "gauge@example.com", "password": "pw-gauge"}
                assert (await http.post("/api/users", json={"user": user})).status_code == 201
                login = {"user": {"email": user["email"], "password": user["password"]}}
                # On connections of their own, which the kernel spreads over the two workers'
                # sockets: all 12 on the one killed has a chance of 1 in 4,096.
                slow = [
                    asyncio.create_task(http.post("/api/users/login", json=login))
                    for _ in range(12)
                ]

                for _ in range(600):
                    text = (await http.get("/metrics")).text
                    if gauge(text, "http_requests_in_flight") >= 1 + len(slow):
                        break
                    await asyncio.sleep(0.05)
                os.kill(first[0], signal.SIGKILL)
                await asyncio.to_thread(
                    wait_for, lambda: events(server, "worker_exited"), 60, "the death"
                )
                results = await asyncio.gather(*slow, return_exceptions=True)
                served = [r for r in results if isinstance(r, httpx.Response)]
                assert served, results  # the survivor's logins were answered
                await asyncio.to_thread(ready_pids, server, 3)
                text = (await http.get("/metrics")).text
                # Only this scrape is in flight; the killed worker's requests no longer count.
                assert gauge(text, "http_requests_in_flight") == 1, text
                assert gauge(text, "db_pool_connections_in_use") <= 1, text
    finally:
        await empty_tables(engine)


def _request(path: str, method: str = "GET", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def _read_response(sock: socket.socket) -> tuple[bytes, dict[str, str], bytes]:
    """Status line, headers, body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection; got {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, v in (line.decode().split(":", 1) for line in lines)
    }
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


async def test_a_request_on_a_keep_alive_connection_just_after_sigterm_is_answered(
    tmp_path, server_env, engine
):
    """Sent just after SIGTERM on a connection opened before it, a write is answered (and
    committed) with `Connection: close`, not dropped with the connection. One worker, so that
    the test knows when it has begun to drain (its /readyz turns 503)."""
    env = {**server_env, "WEB_CONCURRENCY": "1", "DRAIN_WINDOW_SECONDS": "10"}
    try:
        with live_server(tmp_path, env, LAUNCHER) as server:
            ready_pids(server, 1)
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(_request("/healthz"))
                status, headers, _ = _read_response(sock)
                assert status.split()[1] == b"200", status
                assert headers.get("connection") != "close"

                signalled = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                async with httpx.AsyncClient(base_url=server.url, timeout=5) as probe:
                    while (await probe.get("/readyz")).status_code != 503:
                        assert time.monotonic() - signalled < 10
                user = b'{"user": {"username": "late", "email": "late@example.com", "password": "pw-late-1"}}'  # noqa: E501
                sock.sendall(_request("/api/users", "POST", user))
                status, headers, body = _read_response(sock)
                assert status.split()[1] == b"201", (status, body)
                assert headers["connection"] == "close"
                assert sock.recv(1) == b""  # then the server closes it
            assert server.process.wait(timeout=30) == 0
        async with engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM users WHERE username = 'late'"))
        assert count == 1
    finally:
        await empty_tables(engine)


async def _ok_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_connections_waiting_in_the_accept_queue_are_served_at_the_drain():
    """Connections the kernel accepted but no worker had yet taken are answered, not reset
    when the listening socket closes (hypercorn's own worker closes it with them queued)."""
    from hypercorn.utils import wrap_app

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 10
    sockets = config.create_sockets()
    listening = sockets.insecure_sockets[0]
    listening.listen(config.backlog)  # as the first worker's server does
    address = listening.getsockname()
    clients = []
    for _ in range(20):  # queued: nobody has called accept() yet
        client = socket.create_connection(address, timeout=10)
        client.sendall(_request("/"))
        clients.append(client)
    ours, theirs = Pipe()
    ours.close()  # the drain starts as soon as the worker serves
    app = wrap_app(_ok_app, config.wsgi_max_body_size, "asgi")
    await serve_worker.serve(app, config, sockets, theirs, lambda: None, drain_window=0)

    answered = 0
    for client in clients:
        with client:
            status, _, body = await asyncio.to_thread(_read_response, client)
            assert status.split()[1] == b"200"
            assert body == b"ok"
            answered += 1
    assert answered == len(clients)


def test_queued_connections_are_taken_in_a_few_turns_of_the_loop():
    """A worker takes the connections waiting in the accept queue in batches. uvloop's own
    server takes one a turn of the event loop, and under load a turn lasts tens of ms: 256
    new connections waited 3-4 s to be accepted (the p99 of the bench's 256-connection runs).
    Counted in turns of the loop, so the host's speed does not matter."""
    import uvloop
    from hypercorn.utils import wrap_app

    queued = 40
    config = Config()
    config.bind = ["127.0.0.1:0"]
    sockets = config.create_sockets()
    listening = sockets.insecure_sockets[0]
    listening.listen(config.backlog)
    clients = []
    for _ in range(queued):
        client = socket.create_connection(listening.getsockname(), timeout=10)
        client.sendall(_request("/"))
        clients.append(client)

    turns = 0
    started: list[int] = []  # the loop's turn when each request reached the app
    all_started = asyncio.Event()

    async def app(scope, receive, send):
        if scope["type"] == "http":
            started.append(turns)
            if len(started) == queued:
                all_started.set()
        await _ok_app(scope, receive, send)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:  # once a turn: callbacks scheduled now run in the next one
            nonlocal turns
            turns += 1
            loop.call_soon(tick)

        loop.call_soon(tick)
        ours, theirs = Pipe()
        wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
        served = asyncio.create_task(
            serve_worker.serve(wrapped, config, sockets, theirs, lambda: None, drain_window=0)
        )
        async with asyncio.timeout(30):
            await all_started.wait()
        ours.close()
        await served

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    for client in clients:
        with client:
            status, _, _ = _read_response(client)
            assert status.split()[1] == b"200"
    # Two batches of ACCEPT_BATCH, then a turn or two to read each request.
    assert max(started) - min(started) <= 6, started


def _listening_sockets(port: int) -> int:
    """TCP sockets in LISTEN state on `port` (IPv4), from the kernel's table."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


async def test_a_burst_of_new_connections_is_spread_over_the_workers(tmp_path, server_env, engine):
    """Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
    connections over them. On one shared socket, a worker that takes its queue in batches
    took a whole burst for itself (all 256 of a bench run's connections, the other idle)."""
    burst = 64
    with live_server(tmp_path, {**server_env, "LOG_JSON": "true"}, LAUNCHER) as server:
        ready_pids(server, 2)
        assert _listening_sockets(server.port) == 2  # one each; a shared one would be 1

        def send_burst() -> list[str]:
            clients = [
                socket.create_connection(("127.0.0.1", server.port), timeout=30)
                for _ in range(burst)
            ]
            for client in clients:
                client.sendall(_request("/api/tags"))
            ids = []
            for client in clients:
                with client:
                    status, headers, _ = _read_response(client)
                    assert status.split()[1] == b"200"
                    ids.append(headers["x-request-id"])
            return ids

        ids = set(await asyncio.to_thread(send_burst))

        def served_by() -> Counter[int] | None:
            pids: Counter[int] = Counter()
            for line in server.output().splitlines():
                if line.startswith("{") and "service.access" in line:
                    entry = json.loads(line)
                    if entry["logger"] == "service.access" and entry["request_id"] in ids:
                        pids[entry["pid"]] += 1
            return pids if sum(pids.values()) == burst else None

        pids = await asyncio.to_thread(wait_for, served_by, 30, "the access log lines")
    assert len(pids) == 2, pids
    assert min(pids.values()) >= burst // 4, pids  # hashing: 32 each, give or take a few


def test_workers_share_one_socket_where_each_cannot_have_its_own(tmp_path):
    """A socket each on a fixed TCP port; one shared for port 0 (each would get a port of its
    own) and for a Unix socket (binding it again removes the first)."""
    from service.serve import _close, worker_sockets

    def sets(bind: str) -> list:
        config = Config()
        config.bind = [bind]
        config.workers = 2
        return worker_sockets(config)

    own = sets(f"127.0.0.1:{free_port()}")
    try:
        assert own[0] is not own[1]
        ports = {s.insecure_sockets[0].getsockname()[1] for s in own}
        assert len(ports) == 1
    finally:
        for sockets in own:
            _close(sockets)
    for bind in ("127.0.0.1:0", f"unix:{tmp_path / 'conduit.sock'}"):
        shared = sets(bind)
        try:
            assert shared[0] is shared[1], bind
        finally:
            _close(shared[0])

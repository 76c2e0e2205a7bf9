"""Two instances behind a real nginx (Debian's package) on loopback.

Requests spread over both; the client's address arrives through the proxy (and a spoofed
X-Forwarded-For does not win); one instance drains and restarts while traffic continues,
with no failed request.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from tests.balancer import nginx, served_ids
from tests.conftest import empty_tables
from tests.live import BIN, live_server

LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]


async def test_two_instances_behind_nginx(tmp_path, settings, engine):
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "TRUSTED_PROXY_HOPS": "1",
        "WEB_CONCURRENCY": "1",
        "LOG_JSON": "true",
    }
    try:
        with (
            live_server(tmp_path, env, LAUNCHER, name="a") as a,
            live_server(tmp_path, env, LAUNCHER, name="b") as b,
            nginx(tmp_path, a.port, b.port) as url,
        ):
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                # Spread: every request is answered, and both instances answered some.
                ids = [uuid.uuid4().hex for _ in range(40)]
                for rid in ids:
                    response = await http.get("/api/tags", headers={"X-Request-ID": rid})
                    assert response.status_code == 200
                    assert response.headers["X-Request-ID"] == rid
                # Each access line is written once its response is sent: give the last a moment.
                for _ in range(50):
                    on_a, on_b = served_ids(a.output()), served_ids(b.output())
                    if set(ids) <= on_a | on_b:
                        break
                    await asyncio.sleep(0.05)
                assert on_a & set(ids)
                assert on_b & set(ids)
                assert set(ids) <= on_a | on_b

                # The client's address arrives through the proxy; a forged one does not win.
                for _ in range(4):
                    failed = await http.post(
                        "/api/users/login",
                        json={"user": {"email": "who@example.com", "password": "wrong-pass"}},
                        headers={"X-Forwarded-For": "203.0.113.66"},
                    )
                    assert failed.status_code == 401
                lines = [
                    json.loads(line)
                    for line in (a.output() + b.output()).splitlines()
                    if line.startswith("{") and '"login failed"' in line
                ]
                assert lines
                assert {line["client"] for line in lines} == {"127.0.0.1"}

                # Drain and restart instance a while traffic keeps flowing: nothing fails.
                stop = asyncio.Event()
                results: list[int | str] = []

                async def traffic() -> None:
                    while not stop.is_set():
                        try:
                            results.append((await http.get("/api/articles")).status_code)
                        except httpx.HTTPError as exc:
                            results.append(repr(exc))

                runners = [asyncio.create_task(traffic()) for _ in range(4)]
                await asyncio.sleep(0.5)
                a.process.terminate()  # SIGTERM: the launcher drains
                assert await asyncio.to_thread(a.process.wait, 30) == 0
                await asyncio.sleep(0.5)
                with live_server(
                    tmp_path, env | {"PORT": str(a.port)}, LAUNCHER, name="a2", port=a.port
                ):
                    await asyncio.sleep(1.0)
                    stop.set()
                    await asyncio.gather(*runners)
                assert results
                assert set(results) == {200}, [r for r in results if r != 200][:5]
    finally:
        await empty_tables(engine)

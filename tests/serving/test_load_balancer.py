"""Two instances behind a real nginx (Debian's package) on loopback.

Requests spread over both; the client's address arrives through the proxy (and a spoofed
X-Forwarded-For does not win); one instance drains and restarts while traffic continues,
with no failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import empty_tables
from tests.live import BIN, free_port, live_server, wait_ready

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {tmp}/nginx-access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream conduit {{
    server 127.0.0.1:{a} max_fails=1 fail_timeout=2s;
    server 127.0.0.1:{b} max_fails=1 fail_timeout=2s;
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://conduit;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      # A draining or restarting instance refuses connections: try the other one.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 2;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(tmp: Path, a: int, b: int):
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install -y nginx (.ci/run installs it)")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, a=a, b=b, port=port))
    log = tmp / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(tmp)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def served_ids(log: str) -> set[str]:
    """Request ids in an instance's access log (the app's JSON lines)."""
    return {
        entry["request_id"]
        for entry in (json.loads(line) for line in log.splitlines() if line.startswith("{"))
        if entry.get("logger") == "service.access"
    }


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

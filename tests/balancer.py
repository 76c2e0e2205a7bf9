"""nginx (Debian's package) in front of two instances on loopback, as the README's sample
balancer: round robin, keep-alive upstream connections, the next instance tried on an error
(a refused connection: a draining or restarting instance), a timeout or a 502. The service's
own 503 goes to the client as it is."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import free_port, wait_ready

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
# The load test: 200 clients, and as many connections on to the instances.
events {{ worker_connections 1024; }}
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
      # A draining or restarting instance refuses connections: try the other one. Not on the
      # service's 503 (database unavailable, deadline passed): the other instance shares the
      # database, and with max_fails=1 a 503 would take both out, nginx answering its own 502
      # until fail_timeout after the database is back. The 503 carries Retry-After.
      proxy_next_upstream error timeout http_502;
      proxy_next_upstream_tries 2;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(tmp: Path, a: int, b: int) -> Iterator[str]:
    """nginx on a free port in front of ports `a` and `b`; its URL."""
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

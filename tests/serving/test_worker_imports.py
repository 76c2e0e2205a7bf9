"""What a web worker loads: the app as the launcher's workers import it, in a fresh process.

Every module stays resident in every worker for its life, so what only the job worker or a
command line needs (the queue's procrastinate and psycopg, SMTP, the outbound HTTP client and,
through httpx's CLI, rich and pygments) must not be imported to serve requests
(docs/bench/memory.md has the figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Creating the app opens no connection: nothing needs to listen at this address.
PG = "postgresql+asyncpg://app@127.0.0.1:1/app"
JOB_ONLY = ("procrastinate", "psycopg", "psycopg_pool", "aiosmtplib", "httpx", "rich", "pygments")

LOADED = f"""
import json, sys
import service.serve_worker, asgi
print(json.dumps(sorted({{m.partition(".")[0] for m in sys.modules}} & set({JOB_ONLY!r}))))
"""


def _job_only_modules(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOADED],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_a_production_web_worker_does_not_load_the_job_queue_or_cli_libraries():
    env = {"APP_ENV": "production", "DATABASE_URL": PG, "SECRET_KEY": "s" * 48}
    assert _job_only_modules(env) == []


def test_on_sqlite_the_web_process_loads_the_queue_for_its_in_process_runner(tmp_path):
    # The counterpart: there the jobs run in the web process, so procrastinate must load.
    env = {"APP_ENV": "development", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db"}
    assert "procrastinate" in _job_only_modules(env)

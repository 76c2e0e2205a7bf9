"""Settings for the job tests: small timeouts and backoffs, set here rather than assumed of
an idle host; the queue's tables emptied before each test on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

FAST: dict[str, Any] = {
    "jobs_poll_seconds": 0.1,
    "jobs_heartbeat_seconds": 0.5,
    "jobs_stalled_seconds": 2.0,
    "jobs_retry_base_seconds": 0.2,
    "jobs_retry_cap_seconds": 1.0,
    "jobs_max_attempts": 3,
    "worker_graceful_seconds": 10.0,
    "webhook_allow_private_addresses": True,
    "webhook_connect_timeout_seconds": 2.0,
    "webhook_timeout_seconds": 1.0,
}


@pytest.fixture
def jobs_app(app_with: Any, tmp_path: Any) -> Any:
    """`await jobs_app(**overrides)`: an app with fast jobs, run inside `running_worker(app)`
    (in-process on SQLite, by service.worker.run on PostgreSQL)."""

    async def build(**overrides: Any) -> Quart:
        options = {
            **FAST,
            "jobs_in_process": True,
            "mail_outbox_dir": str(tmp_path / "mail"),
            **overrides,
        }
        app: Quart = await app_with(**options)
        runner = app.extensions["job_runner"]
        if runner is not None:  # it runs inside running_worker(app) only, as on PostgreSQL
            await runner.stop()
        return app

    return build


@pytest.fixture(autouse=True)
async def empty_queue(engine: AsyncEngine) -> AsyncIterator[None]:
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM procrastinate_periodic_defers"))
            await conn.execute(text("DELETE FROM procrastinate_jobs"))
            await conn.execute(text("DELETE FROM procrastinate_workers"))
    return

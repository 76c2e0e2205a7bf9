"""The job queue as the web tier sees it: the queue's figures in /metrics, the webhook client
for the checks made at registration and, on SQLite only, the in-process runner.

Kept apart from `service.queue` so that a web worker on PostgreSQL never imports procrastinate
or psycopg (about 200 modules, 14 MB per worker): its requests only write the outbox (through
`service.services.jobs`), and the queue's figures are one SQL query on its own engine.
`service.queue` is imported only where jobs run: the job worker, and the web process on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from quart import Quart
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clients.webhook_http import WebhookClient
from service.config import Settings
from service.daos.outbox import outbox_dao
from service.db import Database
from service.metrics import COLLECTORS

if TYPE_CHECKING:
    from service.queue import EmbeddedRunner


@dataclass(frozen=True)
class QueueStats:
    queue: str
    queued: int
    running: int
    failed: int
    retried: int  # waiting for a retry (failed at least once, not dead)
    oldest_age_seconds: float  # the longest a job that could run now has been waiting


POSTGRES_STATS = text(
    """
    SELECT j.queue_name AS queue,
           count(*) FILTER (WHERE j.status = 'todo') AS queued,
           count(*) FILTER (WHERE j.status = 'doing') AS running,
           count(*) FILTER (WHERE j.status = 'failed') AS failed,
           count(*) FILTER (WHERE j.status = 'todo' AND j.attempts > 0) AS retried,
           COALESCE(EXTRACT(EPOCH FROM now() - min(COALESCE(j.scheduled_at, e.at))
                    FILTER (WHERE j.status = 'todo'
                            AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))), 0)
               AS oldest
      FROM procrastinate_jobs j
      LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
     WHERE j.status IN ('todo', 'doing', 'failed')
     GROUP BY j.queue_name
    """
)


async def postgres_stats(engine: AsyncEngine) -> list[QueueStats]:
    async with engine.connect() as conn:
        rows = (await conn.execute(POSTGRES_STATS)).all()
    return [
        QueueStats(r.queue, r.queued, r.running, r.failed, r.retried, float(r.oldest)) for r in rows
    ]


def memory_stats(jobs: dict[int, dict[str, Any]], now: datetime) -> list[QueueStats]:
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for row in jobs.values():
        by_queue.setdefault(row["queue_name"], []).append(row)
    stats = []
    for queue, rows in sorted(by_queue.items()):
        due = [
            r["scheduled_at"] or r["deferred_at"]
            for r in rows
            if r["status"] == "todo" and (r["scheduled_at"] is None or r["scheduled_at"] <= now)
        ]
        stats.append(
            QueueStats(
                queue,
                sum(r["status"] == "todo" for r in rows),
                sum(r["status"] == "doing" for r in rows),
                sum(r["status"] == "failed" for r in rows),
                sum(r["status"] == "todo" and r["attempts"] > 0 for r in rows),
                max(0.0, (now - min(due)).total_seconds()) if due else 0.0,
            )
        )
    return stats


def init_app(app: Quart, settings: Settings) -> None:
    """Jobs as the web tier sees them: the in-process runner on SQLite, the queue's figures in
    /metrics, and the webhook client for the checks made at registration."""
    client = WebhookClient(
        connect_timeout=settings.webhook_connect_timeout_seconds,
        timeout=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
        allow_private=settings.webhook_allow_private_addresses,
    )
    app.extensions["webhook_client"] = client
    runner: EmbeddedRunner | None = None
    if settings.is_sqlite and settings.jobs_in_process:
        # Here only: jobs run in this process, so it needs procrastinate after all.
        from service.queue import EmbeddedRunner

        runner = EmbeddedRunner(settings)
    app.extensions["job_runner"] = runner

    @app.before_serving
    async def _start_jobs() -> None:
        if runner is not None:
            await runner.start()

    @app.after_serving
    async def _stop_jobs() -> None:
        if runner is not None:
            await runner.stop()
        await client.aclose()

    async def queue_metrics() -> list[Metric]:
        database: Database = app.extensions["db"]
        if runner is not None:
            stats = runner.stats()
        elif settings.is_sqlite:
            stats = []  # no runner here: the queue is another process's memory
        else:
            stats = await postgres_stats(database.engine)
        async with database.read_sessionmaker() as session:
            pending = await outbox_dao.count(session)
        return queue_families(stats, pending)

    app.extensions.setdefault(COLLECTORS, []).append(queue_metrics)


def queue_families(stats: list[QueueStats], outbox_pending: int) -> list[Metric]:
    families = {
        "queued": GaugeMetricFamily("jobs_queued", "Jobs waiting to run", labels=["queue"]),
        "running": GaugeMetricFamily("jobs_running", "Jobs running now", labels=["queue"]),
        "failed": GaugeMetricFamily(
            "jobs_failed", "Dead jobs: attempts used up, waiting for an operator", labels=["queue"]
        ),
        "retried": GaugeMetricFamily(
            "jobs_retried", "Jobs that failed and wait for their next attempt", labels=["queue"]
        ),
        "oldest_age_seconds": GaugeMetricFamily(
            "jobs_oldest_age_seconds",
            "How long the oldest job that could run now has waited",
            labels=["queue"],
        ),
    }
    for row in stats:
        for field, family in families.items():
            family.add_metric([row.queue], float(getattr(row, field)))
    outbox = GaugeMetricFamily(
        "jobs_outbox_pending", "Jobs committed by requests, not yet in the queue"
    )
    outbox.add_metric([], float(outbox_pending))
    return [*families.values(), outbox]

"""The job queue: procrastinate, on PostgreSQL in production, in memory in-process on SQLite.

Why procrastinate: the queue is a table in the PostgreSQL the service already runs, so there is
no second system to operate, back up or lose jobs in; workers on any number of machines take
jobs with `SELECT ... FOR UPDATE SKIP LOCKED` and wake on LISTEN/NOTIFY; a failed job stays a
row (status `failed`) that an operator lists and retries; a periodic task is deferred once per
tick by a unique constraint, whatever the number of workers; workers' heartbeats tell which
running jobs belong to a dead worker.

How a job gets there: a request writes a row to the transactional outbox (`job_outbox`, on
either backend, in its own transaction). On PostgreSQL the relay in every worker moves rows
into procrastinate's table in one transaction (`DELETE ... RETURNING` and procrastinate's own
`batch_defer_jobs_async` on the same connection: a row becomes exactly one job), woken by a
NOTIFY the outbox's trigger sends at commit. On SQLite (`make run`, no server) the web process
runs an `EmbeddedRunner`: the same job functions, retry strategy and periodic jobs, on
procrastinate's in-memory connector, fed from the same outbox.

What the web tier needs of the queue (its figures in /metrics, starting that runner) is in
`service.queue_web`, which imports this module only on SQLite: a web worker on PostgreSQL
never loads procrastinate or psycopg.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import procrastinate
import psycopg
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.testing import InMemoryConnector
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from service.clients import mailer as mail_client
from service.clients.webhook_http import WebhookClient
from service.config import Settings
from service.daos.outbox import outbox_dao
from service.db import Database
from service.jobs import JobContext, JobSpec, load_all
from service.queue_web import QueueStats, memory_stats
from service.services.mail import Sender

log = logging.getLogger("service.queue")

RUNTIME = "conduit_runtime"  # the key of our JobContext in procrastinate's additional_context
OUTBOX_CHANNEL = "conduit_job_outbox"  # NOTIFY'd by the outbox's insert trigger (migration 0007)
RELAY_BATCH = 200


class BackoffRetry(BaseRetryStrategy):
    """Retry n (0 for the first failure) waits min(cap, base * 2**n) seconds, plus up to 10 %
    jitter so that jobs failing together do not all come back together; after `max_attempts`
    runs the job is failed: dead, until an operator retries it."""

    def __init__(self, max_attempts: int, base_seconds: float, cap_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds

    def delay(self, attempts: int) -> float:
        wait = min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempts, 60))
        return float(wait * (1 + random.random() / 10))  # noqa: S311 (jitter, not a secret)

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts + 1 >= self.max_attempts:
            return None
        retry_at = procrastinate.utils.utcnow() + timedelta(seconds=self.delay(job.attempts))
        return RetryDecision(retry_at=retry_at)

    @classmethod
    def from_settings(cls, settings: Settings) -> BackoffRetry:
        return cls(
            settings.jobs_max_attempts,
            settings.jobs_retry_base_seconds,
            settings.jobs_retry_cap_seconds,
        )


def _runner(spec: JobSpec) -> Callable[..., Awaitable[None]]:
    async def run(context: procrastinate.JobContext, **kwargs: Any) -> None:
        runtime: JobContext = context.additional_context[RUNTIME]
        await spec.function(dataclasses.replace(runtime, attempt=context.job.attempts), **kwargs)

    run.__name__ = run.__qualname__ = spec.name.replace(".", "_")
    return run


def build_app(settings: Settings, connector: procrastinate.connector.BaseConnector) -> Any:
    """A procrastinate App with every declared job (service.jobs) registered."""
    app = procrastinate.App(connector=connector)
    retry = BackoffRetry.from_settings(settings)
    for spec in load_all().values():
        task = app.task(name=spec.name, queue=spec.queue, retry=retry, pass_context=True)(
            _runner(spec)
        )
        if spec.periodic:
            app.periodic(cron=settings.cleanup_cron, periodic_id=spec.name)(task)
    return app


def make_runtime(settings: Settings, database: Database) -> JobContext:
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    if smtp_url is None and settings.is_deployed:
        log.warning(
            "SMTP_URL is not set: email goes to files in %s, not to anyone",
            settings.mail_outbox_dir,
        )
    if settings.public_base_url is None:
        log.warning("PUBLIC_BASE_URL is not set: password reset emails cannot be sent")
    return JobContext(
        settings=settings,
        database=database,
        sender=Sender(
            mail_client.from_settings(
                smtp_url, settings.mail_outbox_dir, settings.smtp_timeout_seconds
            ),
            settings.mail_from,
        ),
        webhooks=WebhookClient(
            connect_timeout=settings.webhook_connect_timeout_seconds,
            timeout=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
            allow_private=settings.webhook_allow_private_addresses,
        ),
    )


def worker_options(
    settings: Settings, runtime: JobContext, concurrency: int, name: str
) -> dict[str, Any]:
    return {
        "name": name,
        "concurrency": concurrency,
        "install_signal_handlers": False,  # service.worker owns the signals
        "shutdown_graceful_timeout": settings.worker_graceful_seconds,
        "fetch_job_polling_interval": settings.jobs_poll_seconds,
        "abort_job_polling_interval": settings.jobs_poll_seconds,
        "update_heartbeat_interval": settings.jobs_heartbeat_seconds,
        "stalled_worker_timeout": settings.jobs_stalled_seconds,
        # Succeeded jobs leave; failed ones stay for the operator (list, retry).
        "delete_jobs": "successful",
        "additional_context": {RUNTIME: runtime},
    }


# PostgreSQL


LIBPQ_PARAMS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "connect_timeout"}


def psycopg_conninfo(database_url: str) -> str:
    """The libpq URL for DATABASE_URL (asyncpg spells TLS `ssl=`; its own options are dropped)."""
    url = make_url(database_url)
    query: dict[str, str] = {}
    for key, value in parse_qsl(url.render_as_string(hide_password=False).partition("?")[2]):
        if key == "ssl":
            query["sslmode"] = value
        elif key in LIBPQ_PARAMS:
            query[key] = value
    plain = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    return plain + ("?" + urlencode(query) if query else "")


def postgres_connector(settings: Settings, max_size: int) -> Any:
    return procrastinate.PsycopgConnector(
        conninfo=psycopg_conninfo(settings.database_url),
        min_size=1,
        max_size=max_size,
        timeout=settings.db_pool_timeout,
        kwargs={
            "application_name": "conduit-worker",
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


TAKE_FROM_OUTBOX = """
DELETE FROM job_outbox
 WHERE id IN (SELECT id FROM job_outbox ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, task, queue, args
"""


class OutboxRelay:
    """Moves outbox rows into procrastinate's queue, in one transaction per batch: a row is
    deleted if and only if its job was inserted. Any number of relays can run (SKIP LOCKED)."""

    def __init__(self, app: Any, conninfo: str, poll_seconds: float) -> None:
        self.app = app
        self.conninfo = conninfo
        self.poll_seconds = poll_seconds

    async def relay_once(self) -> int:
        async with self.app.connector.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(TAKE_FROM_OUTBOX, {"limit": RELAY_BATCH})
                rows = sorted(await cursor.fetchall(), key=lambda row: row["id"])
            if rows:
                jobs = [
                    self.app.configure_task(row["task"], queue=row["queue"]).make_new_job(
                        **row["args"]
                    )
                    for row in rows
                ]
                await self.app.job_manager.batch_defer_jobs_async(jobs, connection=conn)
        return len(rows)

    async def drain(self) -> int:
        moved = 0
        while (count := await self.relay_once()) > 0:
            moved += count
            if count < RELAY_BATCH:
                break
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set: at each NOTIFY, and every poll interval in case one was
        missed (the listening connection dropped, say)."""
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name="conduit-relay"
                ) as listener:
                    await listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    while not stop.is_set():
                        await self.drain()
                        await _first(_one_notification(listener, self.poll_seconds), stop.wait())
            except (psycopg.Error, OSError) as exc:
                log.warning("outbox relay: %s; retrying in %.1f s", exc, self.poll_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)


async def _one_notification(conn: psycopg.AsyncConnection[Any], seconds: float) -> None:
    """Returns at the next NOTIFY, or after `seconds` without one."""
    async for _ in conn.notifies(timeout=seconds, stop_after=1):
        pass


async def _first(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def recover_stalled(app: Any, settings: Settings) -> int:
    """Jobs left running by a worker whose heartbeat stopped (killed, frozen, cut off) go back
    to the queue, or to failed once they have used their attempts: a job that kills its worker
    every time does not loop forever. Several workers may race here: each job moves once."""
    moved = 0
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.jobs_stalled_seconds
    )
    for job in stalled:
        try:
            if job.attempts + 1 >= settings.jobs_max_attempts:
                await app.job_manager.finish_job(job=job, status=Status.FAILED, delete_job=False)
            else:
                await app.job_manager.retry_job(job)
            moved += 1
            log.warning("job %s (%s) was stalled: handed back", job.id, job.task_name)
        except queue_errors.ConnectorException:
            continue  # another worker moved it first
    return moved


async def recover_stalled_forever(app: Any, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await recover_stalled(app, settings)
        except queue_errors.ConnectorException as exc:
            log.warning("stalled-job check failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.jobs_heartbeat_seconds)


# SQLite: in-process


class EmbeddedConnector(InMemoryConnector):
    """procrastinate's in-memory queue for a long-running process: it keeps no query log and
    forgets a deleted job's events (the test connector keeps both, to inspect)."""

    async def generic_execute(self, query: str, suffix: str, **arguments: Any) -> Any:
        query_name = self.reverse_queries[query]
        return await getattr(self, f"{query_name}_{suffix}")(**arguments)

    async def defer_jobs_all(self, jobs: list[Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await super().defer_jobs_all(jobs)
        for row in rows:
            row["deferred_at"] = procrastinate.utils.utcnow()
        return rows

    async def finish_job_run(self, job_id: int, status: str, delete_job: bool) -> None:
        await super().finish_job_run(job_id, status, delete_job)
        if delete_job:
            self.events.pop(job_id, None)


class EmbeddedRunner:
    """Jobs in the web process, for SQLite (`make run`): the outbox is read every poll
    interval into procrastinate's in-memory queue, where a worker runs the same job functions
    with the same retries and periodic jobs. It has its own engine, so it never takes the web
    requests' connections. At a clean stop, jobs still waiting go back to the outbox; a process
    killed outright loses the jobs it had taken from the outbox (development only)."""

    def __init__(self, settings: Settings, concurrency: int | None = None) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.connector = EmbeddedConnector()
        self.app = build_app(settings, self.connector)
        self.database = Database(settings)
        self.runtime: JobContext | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        await self.database.connect()
        self.runtime = make_runtime(self.settings, self.database)
        await self.app.open_async()
        options = worker_options(self.settings, self.runtime, self.concurrency, "in-process")
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.app.run_worker_async(**options), name="jobs-worker"),
            asyncio.create_task(self._relay_forever(), name="jobs-relay"),
        ]

    async def relay_once(self) -> int:
        async with self.database.sessionmaker() as session, session.begin():
            rows = await outbox_dao.take(session, RELAY_BATCH)
            for row in rows:  # before the commit: a failed commit repeats, never loses
                await self.app.configure_task(row.task, queue=row.queue).defer_async(**row.args)
        return len(rows)

    async def _relay_forever(self) -> None:
        while not self._stop.is_set():
            try:
                while await self.relay_once() == RELAY_BATCH:
                    pass
            except Exception:
                log.exception("in-process job relay failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.jobs_poll_seconds)

    def stats(self) -> list[QueueStats]:
        return memory_stats(self.connector.jobs, procrastinate.utils.utcnow())

    async def stop(self) -> None:
        if not self._tasks:
            return  # never started, or stopped already
        self._stop.set()
        worker, relay = self._tasks
        await relay
        worker.cancel()  # procrastinate's graceful stop: running jobs get their time
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await self._return_waiting_jobs()
        if self.runtime is not None:
            await self.runtime.webhooks.aclose()
        await self.app.close_async()
        await self.database.dispose()
        self.runtime = None
        self._tasks = []

    async def _return_waiting_jobs(self) -> None:
        waiting = [row for row in self.connector.jobs.values() if row["status"] == "todo"]
        if not waiting or not self.database.connected:
            return
        async with self.database.sessionmaker() as session, session.begin():
            for row in waiting:
                await outbox_dao.add(session, row["task_name"], row["queue_name"], row["args"])
        self.connector.jobs.clear()

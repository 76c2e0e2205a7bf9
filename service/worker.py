"""The job worker: `python -m service.worker`, as `service.serve` is the web tier's entry point.

Same configuration as the web tier (APP_ENV, DATABASE_URL, SMTP_URL, ...), its own concurrency
(`WORKER_CONCURRENCY` or `--concurrency`: jobs run at once in this process). Run as many as
needed, on as many machines: they share the queue in PostgreSQL. Each worker relays the
transactional outbox into the queue, runs jobs, defers the periodic ones (once per tick across
all workers), and hands back the jobs of workers whose heartbeat stopped.

SIGTERM or SIGINT drains it like the web launcher: no new job is taken, the relay stops, jobs
running get `WORKER_GRACEFUL_SECONDS` to finish, the rest are aborted and go back to the queue
for another worker (jobs are idempotent), and the process exits 0. A worker killed outright
(SIGKILL, OOM, a lost machine) stops its heartbeat: after `JOBS_STALLED_SECONDS` another worker
takes its jobs back. On SQLite the worker runs the in-process runner of `service.queue`.

Operators: `python -m service.worker failed` lists dead jobs (attempts used up);
`python -m service.worker retry ID...` gives each one more attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any

from service import observability
from service.config import ConfigError, Settings, load_config
from service.db import Database
from service.queue import (
    EmbeddedRunner,
    OutboxRelay,
    build_app,
    make_runtime,
    postgres_connector,
    psycopg_conninfo,
    recover_stalled_forever,
    worker_options,
)

log = logging.getLogger("service.worker")


def _configure_logging(settings: Settings) -> None:
    observability.configure_logging(settings)
    ours = logging.getLogger("service")
    theirs = logging.getLogger("procrastinate")  # job starts, outcomes, retries
    theirs.handlers[:] = ours.handlers
    theirs.setLevel(settings.log_level)
    theirs.propagate = False


async def run(settings: Settings, concurrency: int, stop: asyncio.Event) -> None:
    """Work until `stop` is set, then drain."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    if settings.is_sqlite:
        runner = EmbeddedRunner(settings, concurrency)
        await runner.start()
        log.info('{"event": "worker_started", "mode": "in-process", "name": "%s"}', name)
        await stop.wait()
        await runner.stop()
        return

    app = build_app(settings, postgres_connector(settings, max_size=concurrency + 2))
    database = Database(settings)
    await database.connect()
    runtime = make_runtime(settings, database)
    try:
        async with app.open_async():
            relay = OutboxRelay(
                app, psycopg_conninfo(settings.database_url), settings.jobs_poll_seconds
            )
            worker = asyncio.create_task(
                app.run_worker_async(**worker_options(settings, runtime, concurrency, name)),
                name="worker",
            )
            side = [
                asyncio.create_task(relay.run(stop), name="relay"),
                asyncio.create_task(recover_stalled_forever(app, settings, stop), name="stalled"),
            ]
            log.info(
                '{"event": "worker_started", "name": "%s", "concurrency": %d}', name, concurrency
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            stopping.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            if not worker.done():
                # procrastinate's graceful stop: no new job, running ones get their time.
                worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    finally:
        await runtime.webhooks.aclose()
        await database.dispose()
    log.info('{"event": "worker_stopped", "name": "%s"}', name)


async def _serve(settings: Settings, concurrency: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            log.info('{"event": "shutdown", "signal": "%s"}', signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await run(settings, concurrency, stop)
    return 0


async def _failed(settings: Settings, limit: int) -> int:
    app = build_app(settings, postgres_connector(settings, max_size=1))
    async with app.open_async():
        jobs: list[Any] = list(await app.job_manager.list_jobs_async(status="failed"))
    for job in sorted(jobs, key=lambda job: job.id, reverse=True)[:limit]:
        print(
            f"{job.id}\t{job.queue}\t{job.task_name}\tattempts={job.attempts}\t"
            f"args={job.task_kwargs}"
        )
    print(f"{len(jobs)} failed job(s)", file=sys.stderr)
    return 0


async def _retry(settings: Settings, job_ids: list[int]) -> int:
    from procrastinate.utils import utcnow

    app = build_app(settings, postgres_connector(settings, max_size=1))
    code = 0
    async with app.open_async():
        for job_id in job_ids:
            try:
                await app.job_manager.retry_job_by_id_async(job_id=job_id, retry_at=utcnow())
                print(f"{job_id}\tqueued again")
            except Exception as exc:  # not found, or not failed
                print(f"{job_id}\tnot retried: {exc}", file=sys.stderr)
                code = 1
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs run at once (default: WORKER_CONCURRENCY)"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="work until SIGTERM (the default)")
    failed = commands.add_parser("failed", help="list dead jobs (PostgreSQL)")
    failed.add_argument("--limit", type=int, default=100)
    retry = commands.add_parser("retry", help="give dead jobs one more attempt (PostgreSQL)")
    retry.add_argument("job_ids", type=int, nargs="+")
    args = parser.parse_args(argv)
    try:
        settings = load_config()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    _configure_logging(settings)
    if args.command in ("failed", "retry") and settings.is_sqlite:
        sys.stderr.write("on SQLite jobs live in the web process's memory: nothing to list\n")
        return 2
    if args.command == "failed":
        return asyncio.run(_failed(settings, args.limit))
    if args.command == "retry":
        return asyncio.run(_retry(settings, args.job_ids))
    concurrency = args.concurrency or settings.worker_concurrency
    if concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return asyncio.run(_serve(settings, concurrency))


if __name__ == "__main__":
    sys.exit(main())

"""The queue under faults: backoff and the dead state (and an operator's retry), a worker
killed mid-job, a worker draining on SIGTERM, periodic jobs once per tick with two workers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text

from service.models import WebhookDelivery, WebhookMessage
from service.models.base import utcnow
from service.queue import BackoffRetry
from tests.factories import ArticleMaker, UserFactory
from tests.jobs.conftest import FAST
from tests.jobs.helpers import eventually, receiver, running_worker
from tests.live import ROOT


def test_backoff_doubles_to_a_cap_then_the_job_is_dead():
    retry = BackoffRetry(max_attempts=6, base_seconds=1.0, cap_seconds=5.0)
    delays = [retry.delay(n) for n in range(5)]
    for delay, expected in zip(delays, [1, 2, 4, 5, 5], strict=True):
        assert expected <= delay <= expected * 1.1  # plus up to 10 % jitter

    class Job:
        def __init__(self, attempts: int) -> None:
            self.attempts = attempts

    assert retry.get_retry_decision(exception=ValueError(), job=Job(4)) is not None  # type: ignore[arg-type]
    assert retry.get_retry_decision(exception=ValueError(), job=Job(5)) is None  # type: ignore[arg-type]


async def _webhook(app, url: str) -> tuple[object, int]:
    users = UserFactory(app)
    admin = await users.admin()
    response = await app.test_client().post(
        "/api/webhooks",
        json={"webhook": {"url": url, "events": ["article.published"]}},
        headers=admin.headers,
    )
    assert response.status_code == 201
    return admin, (await response.get_json())["webhook"]["id"]


async def _attempts(app) -> list[WebhookDelivery]:
    async with app.extensions["db"].sessionmaker() as session:
        return list((await session.scalars(select(WebhookDelivery))).all())


async def _delivered(app) -> bool:
    async with app.extensions["db"].sessionmaker() as session:
        stamps = (await session.scalars(select(WebhookMessage.delivered_at))).all()
    return bool(stamps) and all(stamps)


def _metric(text_body: str, name: str, queue: str) -> float:
    match = re.search(rf'^{name}{{queue="{queue}"}} ([0-9.e+-]+)$', text_body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "service.worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_backoff_then_dead_then_an_operators_retry(jobs_app):
    async with receiver(default=500) as hooks:
        app = await jobs_app(jobs_max_attempts=3)
        settings = app.extensions["settings"]
        client = app.test_client()
        _, _ = await _webhook(app, hooks.url)
        author = await UserFactory(app).make()
        async with running_worker(app):
            await ArticleMaker(client).make(author)

            async def dead() -> bool:
                body = await (await client.get("/metrics")).get_data(as_text=True)
                return _metric(body, "jobs_failed", "webhooks") == 1

            await eventually(dead, 30)
            await asyncio.sleep(0.5)
            assert len(hooks.requests) == 3  # max attempts, then no more
            gaps = [b.at - a.at for a, b in zip(hooks.requests, hooks.requests[1:], strict=False)]
            assert gaps[0] >= 0.2  # base
            assert gaps[1] >= 0.4  # doubled
            body = await (await client.get("/metrics")).get_data(as_text=True)
            assert "jobs_outbox_pending 0.0" in body
            assert _metric(body, "jobs_queued", "webhooks") == 0
            if settings.is_sqlite:
                return  # the in-process queue lives in this process's memory: no CLI for it
            listed = await asyncio.to_thread(_cli, settings, "failed")
            assert listed.returncode == 0, listed.stderr
            [line] = listed.stdout.splitlines()
            job_id, queue, task = line.split("\t")[:3]
            assert (queue, task) == ("webhooks", "webhooks.deliver")
            hooks.default = 200  # the receiver is fixed; the operator retries
            retried = await asyncio.to_thread(_cli, settings, "retry", job_id)
            assert retried.returncode == 0, retried.stderr
            await eventually(lambda: _delivered(app))
        assert [d.status_code for d in await _attempts(app)] == [500, 500, 500, 200]


def _worker_env(settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "LOG_JSON": "true",
        "JOBS_IN_PROCESS": "true",
    }
    env.update(
        {
            key.upper(): str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in FAST.items()
        }
    )
    env.update(extra)
    return env


def _start_worker(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "service.worker", "--concurrency", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


async def test_a_job_whose_worker_dies_completes_on_another(jobs_app, tmp_path):
    """PostgreSQL: worker A is SIGKILLed mid-delivery; its heartbeat stops and worker B takes the
    job back. SQLite (in-process queue): a worker that drains with a job unfinished puts it
    back in the outbox for the next one (SIGKILL there loses the jobs it held in memory)."""
    async with receiver(plan=["hang"], hang_seconds=60) as hooks:
        app = await jobs_app(jobs_in_process=False)
        settings = app.extensions["settings"]
        await _webhook(app, hooks.url)
        author = await UserFactory(app).make()
        slow = _worker_env(settings, WEBHOOK_TIMEOUT_SECONDS="60", WORKER_GRACEFUL_SECONDS="0.5")
        first = _start_worker(tmp_path, "first", slow)
        second = None
        try:
            await ArticleMaker(app.test_client()).make(author)

            async def in_flight() -> bool:
                return len(hooks.requests) == 1

            await eventually(in_flight, 30)
            if settings.is_sqlite:
                assert await asyncio.to_thread(_stop, first) == 0
            else:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            second = _start_worker(tmp_path, "second", _worker_env(settings))
            await eventually(lambda: _delivered(app), 30)
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        assert len(hooks.requests) == 2
        assert hooks.requests[0].headers["webhook-id"] == hooks.requests[1].headers["webhook-id"]
        attempts = await _attempts(app)
        assert [d.status_code for d in attempts][-1] == 200


async def test_worker_drains_on_sigterm(jobs_app, tmp_path):
    """A job running at SIGTERM finishes (within WORKER_GRACEFUL_SECONDS) and the worker exits 0."""
    async with receiver(plan=["slow"], hang_seconds=1.5) as hooks:
        app = await jobs_app(jobs_in_process=False)
        settings = app.extensions["settings"]
        await _webhook(app, hooks.url)
        author = await UserFactory(app).make()
        worker = _start_worker(
            tmp_path, "worker", _worker_env(settings, WEBHOOK_TIMEOUT_SECONDS="10")
        )
        try:
            await ArticleMaker(app.test_client()).make(author)

            async def in_flight() -> bool:
                return len(hooks.requests) == 1

            await eventually(in_flight, 30)
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        assert code == 0, (tmp_path / "worker.log").read_text()
        assert await _delivered(app)
        assert [d.status_code for d in await _attempts(app)] == [200]


SUCCESS = re.compile(
    r"Job cleanup\.webhook_deliveries\[\d+\]\(timestamp=(\d+)\) ended with status: Success"
)


async def test_periodic_jobs_run_once_per_tick_with_two_workers(jobs_app, tmp_path, engine):
    app = await jobs_app(jobs_in_process=False)
    settings = app.extensions["settings"]
    env = _worker_env(settings, CLEANUP_CRON="* * * * * *")
    # Two workers share the PostgreSQL queue; on SQLite each has its own in-memory queue,
    # so there one worker is the whole deployment (the README says so).
    names = ["one"] if settings.is_sqlite else ["one", "two"]
    workers = [_start_worker(tmp_path, name, env) for name in names]
    try:

        def ticks() -> Counter[int]:
            seen: Counter[int] = Counter()
            for name in names:
                for line in (tmp_path / f"{name}.log").read_text(errors="replace").splitlines():
                    if line.startswith("{"):
                        found = SUCCESS.search(json.loads(line).get("message", ""))
                        if found:
                            seen[int(found.group(1))] += 1
            return seen

        async def four_ticks() -> bool:
            return len(ticks()) >= 4

        await eventually(four_ticks, 40)
    finally:
        codes = [await asyncio.to_thread(_stop, worker) for worker in workers]
    assert codes == [0] * len(workers)
    seen = ticks()
    assert all(count == 1 for count in seen.values()), seen
    if not settings.is_sqlite:
        ran_on = [bool(SUCCESS.search((tmp_path / f"{n}.log").read_text())) for n in names]
        assert any(ran_on), ran_on
        async with engine.connect() as conn:
            defers = (
                await conn.execute(
                    text(
                        "SELECT defer_timestamp, count(*) FROM procrastinate_periodic_defers "
                        "WHERE task_name = 'cleanup.webhook_deliveries' GROUP BY 1"
                    )
                )
            ).all()
        assert defers
        assert all(count == 1 for _, count in defers)


async def test_cleanup_removes_old_delivery_logs(jobs_app):
    async with receiver() as hooks:
        app = await jobs_app(cleanup_cron="* * * * * *", webhook_delivery_retention_days=7)
        await _webhook(app, hooks.url)
        author = await UserFactory(app).make()
        await ArticleMaker(app.test_client()).make(author)
        await ArticleMaker(app.test_client()).make(author)
        async with app.extensions["db"].sessionmaker() as session:
            old, new = (
                await session.scalars(select(WebhookMessage).order_by(WebhookMessage.id))
            ).all()
            old.created_at = utcnow() - timedelta(days=8)
            for message in (old, new):
                session.add(
                    WebhookDelivery(
                        webhook_id=message.webhook_id,
                        message_id=message.id,
                        event=message.event,
                        attempt=1,
                        status_code=200,
                        latency_ms=1,
                        created_at=message.created_at,
                    )
                )
                message.delivered_at = utcnow()
            await session.commit()
            old_id, new_id = old.id, new.id

        async def old_gone() -> bool:
            async with app.extensions["db"].sessionmaker() as session:
                ids = (await session.scalars(select(WebhookDelivery.message_id))).all()
            return list(ids) == [new_id]

        async with running_worker(app):
            await eventually(old_gone, 30)
        async with app.extensions["db"].sessionmaker() as session:
            assert await session.get(WebhookMessage, old_id) is None
            assert await session.get(WebhookMessage, new_id) is not None


async def test_cleanup_removes_expired_idempotency_keys_and_browser_sessions(jobs_app):
    """Expired rows go, in batches for the keys; live ones stay."""
    from service.jobs import cleanup
    from service.models import BrowserSession, IdempotencyKey

    app = await jobs_app(cleanup_cron="* * * * * *")
    user = await UserFactory(app).make()
    now = utcnow()
    expired_keys = cleanup.BATCH + 5  # more than one batch
    async with app.extensions["db"].sessionmaker() as session:
        for index in range(expired_keys + 1):
            session.add(
                IdempotencyKey(
                    scope=f"user:{user.id}",
                    key=f"k{index}",
                    fingerprint="f",
                    token="t",
                    created_at=now - timedelta(days=2),
                    # The last one is still live.
                    expires_at=now + timedelta(hours=1)
                    if index == expired_keys
                    else now - timedelta(days=1),
                )
            )
        session.add(BrowserSession(id="a" * 64, user_id=user.id, expires_at=now - timedelta(1)))
        session.add(BrowserSession(id="b" * 64, user_id=user.id, expires_at=now + timedelta(1)))
        await session.commit()

    async def expired_gone() -> bool:
        async with app.extensions["db"].sessionmaker() as session:
            keys = (await session.scalars(select(IdempotencyKey.key))).all()
            sessions = (await session.scalars(select(BrowserSession.id))).all()
        return list(keys) == [f"k{expired_keys}"] and list(sessions) == ["b" * 64]

    async with running_worker(app):
        await eventually(expired_gone, 30)

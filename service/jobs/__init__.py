"""Work outside the request, one module per job family (`mail`, `webhooks`, `cleanup`).

A job is a thin entry point like a route: it opens its own session, calls a service, commits.
It is declared here with `@job(name)` (run when a service enqueued it) or `@periodic(name)`
(run once per tick of `CLEANUP_CRON` across every worker and instance); `service.queue`
registers every declared job with the queue at start-up. Adding a clean-up is one function:

    @periodic("cleanup.sent_emails")
    async def sent_emails(ctx: JobContext, timestamp: int) -> None:
        async with ctx.session() as session:
            await mail_service.delete_old(session, days=90)
            await session.commit()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.clients.webhook_http import WebhookClient
from service.config import Settings
from service.db import Database
from service.services.jobs import queue_of
from service.services.mail import Sender

JobFunction = Callable[..., Awaitable[None]]


class RetryLater(Exception):
    """Raised by a job after it committed what it did: the queue runs it again later."""


@dataclass(frozen=True)
class JobContext:
    """What a job may use: settings, a fresh session per call, the outside-world clients."""

    settings: Settings
    database: Database
    sender: Sender
    webhooks: WebhookClient
    attempt: int = 0

    def session(self) -> AsyncSession:
        return self.database.sessionmaker()


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str
    function: JobFunction
    periodic: bool = False
    options: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, JobSpec] = {}


def _declare(name: str, periodic: bool) -> Callable[[JobFunction], JobFunction]:
    def decorator(function: JobFunction) -> JobFunction:
        if name in JOBS:
            raise RuntimeError(f"job {name} is declared twice")
        JOBS[name] = JobSpec(name, queue_of(name), function, periodic)
        return function

    return decorator


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """A job run when a service enqueues `name` (`service.services.jobs.enqueue`)."""
    return _declare(name, periodic=False)


def periodic(name: str) -> Callable[[JobFunction], JobFunction]:
    """A job run once per tick of CLEANUP_CRON, whatever the number of workers; it receives
    the tick's `timestamp` (seconds)."""
    return _declare(name, periodic=True)


def load_all() -> dict[str, JobSpec]:
    """Every job family imported (their decorators fill JOBS)."""
    from service.jobs import cleanup, mail, webhooks  # noqa: F401

    return JOBS

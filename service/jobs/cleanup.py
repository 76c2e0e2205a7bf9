"""Periodic clean-up: each runs once per CLEANUP_CRON tick across all workers and instances.

Each table joins here as one function: a `@periodic` job calling the owning service's
delete-expired function (webhook delivery logs, expired idempotency keys, expired browser
sessions, spent password-reset tokens, expired refresh tokens with expired or revoked
refresh-token families).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs import JobContext, periodic
from service.models.base import utcnow
from service.services import browser_sessions
from service.services import idempotency as idempotency_service
from service.services import password_resets as password_reset_service
from service.services import refresh_tokens as refresh_token_service
from service.services import webhooks as webhook_service

# Rows deleted per transaction: short transactions, whatever the backlog.
BATCH = 1000


class DeleteBatch(Protocol):
    async def __call__(self, session: AsyncSession, *, now: datetime, limit: int) -> int: ...


@periodic("cleanup.webhook_deliveries")
async def webhook_deliveries(ctx: JobContext, timestamp: int) -> None:
    async with ctx.session() as session:
        await webhook_service.delete_old_deliveries(
            session, ctx.settings.webhook_delivery_retention_days
        )
        await session.commit()


async def _in_batches(ctx: JobContext, delete: DeleteBatch) -> None:
    """Batch after batch, each its own transaction, until one comes back short."""
    now = utcnow()
    while True:
        async with ctx.session() as session:
            deleted = await delete(session, now=now, limit=BATCH)
            await session.commit()
        if deleted < BATCH:
            return


@periodic("cleanup.idempotency_keys")
async def idempotency_keys(ctx: JobContext, timestamp: int) -> None:
    await _in_batches(ctx, idempotency_service.delete_expired)


@periodic("cleanup.browser_sessions")
async def expired_browser_sessions(ctx: JobContext, timestamp: int) -> None:
    async with ctx.session() as session:
        await browser_sessions.prune(session)
        await session.commit()


@periodic("cleanup.refresh_tokens")
async def refresh_tokens(ctx: JobContext, timestamp: int) -> None:
    await _in_batches(ctx, refresh_token_service.delete_expired)


@periodic("cleanup.password_resets")
async def password_resets(ctx: JobContext, timestamp: int) -> None:
    async with ctx.session() as session:
        await password_reset_service.delete_spent(session)
        await session.commit()

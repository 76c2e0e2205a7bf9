"""Periodic clean-up: each runs once per CLEANUP_CRON tick across all workers and instances.

Other tables join here as one function each (expired idempotency keys, refresh tokens): a
`@periodic` job calling the owning service's delete-expired function.
"""

from __future__ import annotations

from service.jobs import JobContext, periodic
from service.services import password_resets as password_reset_service
from service.services import webhooks as webhook_service


@periodic("cleanup.webhook_deliveries")
async def webhook_deliveries(ctx: JobContext, timestamp: int) -> None:
    async with ctx.session() as session:
        await webhook_service.delete_old_deliveries(
            session, ctx.settings.webhook_delivery_retention_days
        )
        await session.commit()


@periodic("cleanup.password_resets")
async def password_resets(ctx: JobContext, timestamp: int) -> None:
    async with ctx.session() as session:
        await password_reset_service.delete_spent(session)
        await session.commit()

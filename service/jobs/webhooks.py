"""Webhook deliveries: one job per message, one attempt per run."""

from __future__ import annotations

from service.jobs import JobContext, RetryLater, job
from service.services import webhooks as webhook_service


@job(webhook_service.DELIVER_JOB)
async def deliver(ctx: JobContext, message_id: int) -> None:
    async with ctx.session() as session:
        outcome = await webhook_service.deliver(
            session, ctx.webhooks, message_id, ctx.settings.webhook_disable_after_failures
        )
        await session.commit()  # the attempt is logged whatever comes next
    if outcome.retry:
        raise RetryLater(outcome.detail or "delivery failed")

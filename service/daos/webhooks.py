"""Webhooks, their messages (one per event and endpoint) and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import MAX_ID, Webhook, WebhookDelivery, WebhookMessage


class WebhookDAO:
    async def add(self, session: AsyncSession, webhook: Webhook) -> Webhook:
        session.add(webhook)
        await session.flush()
        return webhook

    async def get(self, session: AsyncSession, webhook_id: int) -> Webhook | None:
        if not 0 < webhook_id <= MAX_ID:
            return None
        return await session.get(Webhook, webhook_id)

    async def list_all(self, session: AsyncSession) -> Sequence[Webhook]:
        return (await session.scalars(select(Webhook).order_by(Webhook.id))).all()

    async def list_active(self, session: AsyncSession) -> Sequence[Webhook]:
        stmt = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)
        return (await session.scalars(stmt)).all()

    async def delete(self, session: AsyncSession, webhook: Webhook) -> None:
        await session.delete(webhook)
        await session.flush()

    async def record_success(self, session: AsyncSession, webhook_id: int) -> None:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook_id).values(consecutive_failures=0)
        )

    async def record_failure(
        self, session: AsyncSession, webhook_id: int, disable_after: int, now: datetime
    ) -> bool:
        """Count a failed attempt in one statement (concurrent deliveries each count); True
        when this one reached `disable_after` and disabled the endpoint."""
        failures = await session.scalar(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(consecutive_failures=Webhook.consecutive_failures + 1)
            .returning(Webhook.consecutive_failures)
        )
        if failures is None or failures < disable_after:
            return False
        result = await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.active.is_(True))
            .values(active=False, disabled_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def add_message(self, session: AsyncSession, message: WebhookMessage) -> WebhookMessage:
        session.add(message)
        await session.flush()
        return message

    async def get_message(self, session: AsyncSession, message_id: int) -> WebhookMessage | None:
        return await session.get(WebhookMessage, message_id)

    async def mark_delivered(self, session: AsyncSession, message_id: int, now: datetime) -> None:
        await session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id == message_id, WebhookMessage.delivered_at.is_(None))
            .values(delivered_at=now)
        )

    async def add_delivery(self, session: AsyncSession, **values: Any) -> None:
        session.add(WebhookDelivery(**values))
        await session.flush()

    async def count_attempts(self, session: AsyncSession, message_id: int) -> int:
        stmt = select(func.count()).where(WebhookDelivery.message_id == message_id)
        return int(await session.scalar(stmt) or 0)

    async def list_deliveries(
        self, session: AsyncSession, webhook_id: int, limit: int
    ) -> Sequence[tuple[WebhookDelivery, str]]:
        """The newest attempts first, each with its message's webhook-id."""
        stmt = (
            select(WebhookDelivery, WebhookMessage.message_id)
            .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]

    async def delete_deliveries_before(self, session: AsyncSession, before: datetime) -> int:
        """Old attempts, and old messages with them (a message's attempts go with it)."""
        result = await session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.created_at < before)
        )
        removed = int(getattr(result, "rowcount", 0) or 0)
        await session.execute(delete(WebhookMessage).where(WebhookMessage.created_at < before))
        return removed


webhook_dao = WebhookDAO()

"""The audit log's SQL: append, and read a page newest first. No update, no delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import AuditEvent


class AuditEventDAO:
    async def add(self, session: AsyncSession, event: AuditEvent) -> AuditEvent:
        session.add(event)
        await session.flush()  # in the caller's transaction: committed with the change, or not
        return event

    async def list_page(
        self,
        session: AsyncSession,
        *,
        actor_id: int | None,
        event_type: str | None,
        since: datetime | None,
        until: datetime | None,
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> Sequence[AuditEvent]:
        """Up to `limit` events, newest first (`at`, then `id`), older than the keyset `after`
        (the last event of the previous page), with `since <= at < until`."""
        where = []
        if actor_id is not None:
            where.append(AuditEvent.actor_id == actor_id)
        if event_type is not None:
            where.append(AuditEvent.type == event_type)
        if since is not None:
            where.append(AuditEvent.at >= since)
        if until is not None:
            where.append(AuditEvent.at < until)
        if after is not None:
            at, event_id = after
            where.append(
                or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < event_id))
            )
        stmt = (
            select(AuditEvent)
            .where(*where)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
        return (await session.scalars(stmt)).all()


audit_event_dao = AuditEventDAO()

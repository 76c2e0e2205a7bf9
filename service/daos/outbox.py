"""The job outbox: rows written in a request's transaction, taken by a relay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import OutboxJob


class OutboxDAO:
    async def add(
        self, session: AsyncSession, task: str, queue: str, args: Mapping[str, Any]
    ) -> None:
        """One job, visible to a relay if and only if the session's transaction commits."""
        await session.execute(insert(OutboxJob).values(task=task, queue=queue, args=dict(args)))

    async def take(self, session: AsyncSession, limit: int) -> Sequence[OutboxJob]:
        """Remove and return the oldest rows (SQLite, where a write holds the database lock,
        so two takers never get the same row)."""
        oldest = select(OutboxJob.id).order_by(OutboxJob.id).limit(limit).scalar_subquery()
        rows = await session.execute(
            delete(OutboxJob).where(OutboxJob.id.in_(oldest)).returning(OutboxJob)
        )
        return sorted(rows.scalars().all(), key=lambda row: row.id)

    async def count(self, session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(OutboxJob)) or 0)


outbox_dao = OutboxDAO()

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import SentEmail


class SentEmailDAO:
    async def exists(self, session: AsyncSession, key: str) -> bool:
        return (await session.scalar(select(SentEmail.key).where(SentEmail.key == key))) is not None

    async def add(self, session: AsyncSession, key: str, recipient: str, subject: str) -> None:
        stmt = insert(session, SentEmail).values(key=key, recipient=recipient, subject=subject)
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))

    async def delete_sent_before(self, session: AsyncSession, before: datetime) -> int:
        result = await session.execute(delete(SentEmail).where(SentEmail.sent_at < before))
        return int(getattr(result, "rowcount", 0) or 0)


sent_email_dao = SentEmailDAO()

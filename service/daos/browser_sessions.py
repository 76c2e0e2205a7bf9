from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import BrowserSession, User


class BrowserSessionDAO:
    async def add(self, session: AsyncSession, row: BrowserSession) -> BrowserSession:
        session.add(row)
        await session.flush()
        return row

    async def get_user(
        self, session: AsyncSession, session_id: str, now: datetime
    ) -> tuple[User, datetime] | None:
        """The user of a live session and when they signed in: one statement."""
        stmt = (
            select(User, BrowserSession.created_at)
            .join(BrowserSession, BrowserSession.user_id == User.id)
            .where(BrowserSession.id == session_id, BrowserSession.expires_at > now)
        )
        row = (await session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def delete(self, session: AsyncSession, session_id: str) -> int | None:
        """Delete the session; the id of its user, None when there was no such session."""
        user_id: int | None = await session.scalar(
            delete(BrowserSession)
            .where(BrowserSession.id == session_id)
            .returning(BrowserSession.user_id)
        )
        return user_id

    async def delete_for_user(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id))

    async def delete_expired(self, session: AsyncSession, now: datetime) -> int:
        result = await session.execute(
            delete(BrowserSession).where(BrowserSession.expires_at <= now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


browser_session_dao = BrowserSessionDAO()

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import PasswordReset


class PasswordResetDAO:
    async def add(
        self, session: AsyncSession, token_hash: str, user_id: int, expires_at: datetime
    ) -> None:
        """Store a token's hash; a job that runs again with the same token stores nothing."""
        stmt = insert(session, PasswordReset).values(
            id=token_hash, user_id=user_id, expires_at=expires_at
        )
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

    async def get_live_user_id(
        self, session: AsyncSession, token_hash: str, now: datetime
    ) -> int | None:
        """The user of an unused, unexpired token; None otherwise."""
        return await session.scalar(
            select(PasswordReset.user_id).where(
                PasswordReset.id == token_hash,
                PasswordReset.used_at.is_(None),
                PasswordReset.expires_at > now,
            )
        )

    async def consume(self, session: AsyncSession, token_hash: str, now: datetime) -> int | None:
        """Mark the token used and return its user, if it was unused and unexpired: one
        conditional UPDATE, so of concurrent confirms with one token exactly one gets the row
        (PostgreSQL re-checks the condition after waiting for the row; SQLite has one writer)."""
        return await session.scalar(
            update(PasswordReset)
            .where(
                PasswordReset.id == token_hash,
                PasswordReset.used_at.is_(None),
                PasswordReset.expires_at > now,
            )
            .values(used_at=now)
            .returning(PasswordReset.user_id)
            .execution_options(synchronize_session=False)
        )

    async def delete_unused_expiring_before(
        self, session: AsyncSession, user_id: int, expires_at: datetime
    ) -> None:
        """The user's unused tokens from earlier requests: a new link replaces them."""
        await session.execute(
            delete(PasswordReset).where(
                PasswordReset.user_id == user_id,
                PasswordReset.used_at.is_(None),
                PasswordReset.expires_at < expires_at,
            )
        )

    async def delete_unused_for_user(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(
            delete(PasswordReset).where(
                PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None)
            )
        )

    async def delete_spent(self, session: AsyncSession, now: datetime) -> int:
        """Expired and used tokens; the number removed."""
        result = await session.execute(
            delete(PasswordReset).where(
                or_(PasswordReset.expires_at <= now, PasswordReset.used_at.is_not(None))
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


password_reset_dao = PasswordResetDAO()

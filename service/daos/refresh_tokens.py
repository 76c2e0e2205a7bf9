"""Refresh-token families and their tokens: SQL only (the rules: services/refresh_tokens.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.queries import entity_columns, load_one
from service.models import MAX_ID, RefreshFamily, RefreshToken, User


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


_USER_OF_LIVE_FAMILY = (
    entity_columns(User)
    .join(RefreshFamily, RefreshFamily.user_id == User.id)
    .where(
        User.id == bindparam("user_id"),
        RefreshFamily.id == bindparam("family_id"),
        RefreshFamily.revoked_at.is_(None),
    )
)


class RefreshTokenDAO:
    async def add_family(self, session: AsyncSession, family: RefreshFamily) -> RefreshFamily:
        session.add(family)
        await session.flush()  # its id goes into the first token and the access token
        return family

    async def add(self, session: AsyncSession, token: RefreshToken) -> RefreshToken:
        session.add(token)
        await session.flush()
        return token

    async def spend(self, session: AsyncSession, token_hash: str, now: datetime) -> int | None:
        """Mark the token used if it is unused, unexpired and of a live family: its family's id,
        or None when it was not. One conditional UPDATE: of concurrent requests with one token,
        the first to update the row wins; the others wait for its lock (PostgreSQL) or the
        write lock (SQLite), then find `used_at` set and update nothing."""
        live_families = select(RefreshFamily.id).where(RefreshFamily.revoked_at.is_(None))
        stmt = (
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.expires_at > now,
                RefreshToken.family_id.in_(live_families),
            )
            .values(used_at=now)
            .returning(RefreshToken.family_id)
            .execution_options(synchronize_session=False)
        )
        family_id: int | None = await session.scalar(stmt)
        return family_id

    async def get(
        self, session: AsyncSession, token_hash: str
    ) -> tuple[RefreshToken, RefreshFamily] | None:
        """The token and its family, whatever their state: one statement."""
        stmt = (
            select(RefreshToken, RefreshFamily)
            .join(RefreshFamily, RefreshFamily.id == RefreshToken.family_id)
            .where(RefreshToken.token_hash == token_hash)
        )
        row = (await session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def get_family_with_user(
        self, session: AsyncSession, family_id: int
    ) -> tuple[RefreshFamily, User] | None:
        stmt = (
            select(RefreshFamily, User)
            .join(User, User.id == RefreshFamily.user_id)
            .where(RefreshFamily.id == family_id)
        )
        row = (await session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def get_user_of_live_family(
        self, session: AsyncSession, family_id: int, user_id: int
    ) -> User | None:
        """The user, if this family of theirs is not revoked: one statement (the lookup every
        request with a family's access token makes instead of loading the user alone)."""
        if not (0 < family_id <= MAX_ID and 0 < user_id <= MAX_ID):
            return None
        return await load_one(
            session, User, _USER_OF_LIVE_FAMILY, {"family_id": family_id, "user_id": user_id}
        )

    async def revoke_family(self, session: AsyncSession, family_id: int, now: datetime) -> bool:
        """Revoke the family if it was live; whether it was."""
        stmt = (
            update(RefreshFamily)
            .where(RefreshFamily.id == family_id, RefreshFamily.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await session.execute(stmt)) == 1

    async def revoke_families_of(self, session: AsyncSession, user_id: int, now: datetime) -> int:
        """Revoke every live family of the user; how many were."""
        stmt = (
            update(RefreshFamily)
            .where(RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await session.execute(stmt))

    async def delete_expired(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """Delete up to `limit` expired tokens (oldest first, from their index) and up to
        `limit` families that are expired or revoked (their tokens go with them); how many
        rows of either went."""
        tokens = (
            select(RefreshToken.token_hash)
            .where(RefreshToken.expires_at <= now)
            .order_by(RefreshToken.expires_at)
            .limit(limit)
        )
        deleted = _rowcount(
            await session.execute(
                delete(RefreshToken)
                .where(RefreshToken.token_hash.in_(tokens))
                .execution_options(synchronize_session=False)
            )
        )
        families = (
            select(RefreshFamily.id)
            .where(or_(RefreshFamily.expires_at <= now, RefreshFamily.revoked_at.is_not(None)))
            .limit(limit)
        )
        # Their tokens by the foreign key's ON DELETE CASCADE (SQLite: foreign_keys=ON).
        deleted += _rowcount(
            await session.execute(
                delete(RefreshFamily)
                .where(RefreshFamily.id.in_(families))
                .execution_options(synchronize_session=False)
            )
        )
        return deleted


refresh_token_dao = RefreshTokenDAO()

"""Idempotency keys: the claim, its takeover, the stored answer and the clean-up.

Every change after the claim is conditional on the claim's token: a request that lost its
claim (taken over as stale, or expired) changes nothing, and one that races a takeover is
ordered by the row (PostgreSQL's row lock, SQLite's write lock), never by process memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import IdempotencyKey

_table = cast(Table, IdempotencyKey.__table__)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class IdempotencyKeyDAO:
    async def claim(
        self,
        session: AsyncSession,
        *,
        scope: str,
        key: str,
        fingerprint: str,
        token: str,
        now: datetime,
        expires_at: datetime,
    ) -> bool:
        """Insert the key in flight; False when a row for it exists (the primary key decides)."""
        stmt = (
            insert(session, _table)
            .values(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                token=token,
                created_at=now,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(index_elements=[_table.c.scope, _table.c.key])
        )
        return _rowcount(await session.execute(stmt)) == 1

    async def get(self, session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
        stmt = (
            select(IdempotencyKey)
            .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
            # A row read earlier in this session may have changed since: read it again.
            .execution_options(populate_existing=True)
        )
        return await session.scalar(stmt)

    async def take_over(
        self,
        session: AsyncSession,
        *,
        scope: str,
        key: str,
        old_token: str,
        new_token: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> bool:
        """Claim anew a row that expired, or whose claim is older than `stale_before` with no
        answer; False when the row changed since `old_token` was read (someone else won)."""
        stmt = (
            update(_table)
            .where(
                _table.c.scope == scope,
                _table.c.key == key,
                _table.c.token == old_token,
                or_(
                    _table.c.expires_at <= now,
                    and_(
                        _table.c.response_status.is_(None),
                        _table.c.created_at <= stale_before,
                    ),
                ),
            )
            .values(
                token=new_token,
                fingerprint=fingerprint,
                created_at=now,
                expires_at=expires_at,
                response_status=None,
                response_headers=None,
                response_body=None,
            )
        )
        return _rowcount(await session.execute(stmt)) == 1

    async def complete(
        self,
        session: AsyncSession,
        *,
        scope: str,
        key: str,
        token: str,
        status: int,
        headers: list[list[str]],
        body: bytes,
    ) -> bool:
        """Store the answer of the claim `token`; False when that claim is no longer held."""
        stmt = (
            update(_table)
            .where(
                _table.c.scope == scope,
                _table.c.key == key,
                _table.c.token == token,
                _table.c.response_status.is_(None),
            )
            .values(response_status=status, response_headers=headers, response_body=body)
        )
        return _rowcount(await session.execute(stmt)) == 1

    async def release(self, session: AsyncSession, *, scope: str, key: str, token: str) -> None:
        """Delete the claim `token` if it is still held and unanswered: the key is free again."""
        await session.execute(
            delete(_table).where(
                _table.c.scope == scope,
                _table.c.key == key,
                _table.c.token == token,
                _table.c.response_status.is_(None),
            )
        )

    async def delete_expired(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """Delete up to `limit` rows expired at `now`, oldest first; how many went.

        The inner select walks ix_idempotency_keys_expires_at from its start and stops after
        `limit` entries, so a batch costs the same however large the table is.
        """
        oldest = (
            select(_table.c.scope, _table.c.key)
            .where(_table.c.expires_at <= now)
            .order_by(_table.c.expires_at)
            .limit(limit)
        )
        stmt = delete(_table).where(tuple_(_table.c.scope, _table.c.key).in_(oldest))
        return _rowcount(await session.execute(stmt))


idempotency_key_dao = IdempotencyKeyDAO()

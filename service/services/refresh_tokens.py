"""Refresh tokens: one family per login, rotated on every use, with reuse detection.

Login and registration start a family and hand out its first refresh token; `rotate` spends
a token and hands out the next one of the same family. Tokens are random secrets stored only as
their SHA-256. A token is spent once: presenting it again (a copy in other hands, or a client
that refreshed twice) is a reuse, and the whole family is revoked: its refresh tokens and the
access tokens that name it (`fam`). The family, and everything issued from it, never outlives
TOKEN_MAX_AGE_SECONDS from the login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.refresh_tokens import refresh_token_dao
from service.errors import (
    AppError,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
)
from service.models import RefreshFamily, RefreshToken, User
from service.models.base import utcnow
from service.services import audit
from service.services.audit import EventType, Origin

SECRET_BYTES = 32


@dataclass(frozen=True)
class Issued:
    """A refresh token just handed out, with what the access token beside it must name."""

    user: User
    family_id: int
    auth_time: datetime  # the login's, whole seconds as JWT carries it
    secret: str


def _digest(secret: str) -> str:
    # A random 256-bit secret needs no slow hash: a copy of the table signs nobody in.
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _hand_out(
    session: AsyncSession, family: RefreshFamily, now: datetime, ttl_seconds: int
) -> str:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    expires_at = min(now + timedelta(seconds=ttl_seconds), _aware(family.expires_at))
    token = RefreshToken(
        token_hash=_digest(secret), family_id=family.id, issued_at=now, expires_at=expires_at
    )
    await refresh_token_dao.add(session, token)
    return secret


async def start(
    session: AsyncSession,
    user: User,
    *,
    ttl_seconds: int,
    max_age_seconds: int,
    now: datetime | None = None,
) -> Issued:
    """A new family for a login (or registration) of `user`, and its first refresh token."""
    now = now or utcnow()
    auth_time = now.replace(microsecond=0)
    family = await refresh_token_dao.add_family(
        session,
        RefreshFamily(
            user_id=user.id,
            auth_time=auth_time,
            created_at=now,
            expires_at=auth_time + timedelta(seconds=max_age_seconds),
        ),
    )
    secret = await _hand_out(session, family, now, ttl_seconds)
    return Issued(user, family.id, auth_time, secret)


async def rotate(
    session: AsyncSession, secret: str, *, ttl_seconds: int, now: datetime | None = None
) -> Issued:
    """Spend `secret` and hand out the next token of its family.

    RefreshTokenInvalid (unknown, or its family revoked), RefreshTokenExpired, or
    RefreshTokenReused (already spent: the caller revokes the family with `revoke_reused`, in
    a transaction of its own, as this request answers 401 and rolls back). Of concurrent
    requests with one token exactly one spends it (a conditional UPDATE decides); the others
    find it spent, which is a reuse.
    """
    now = now or utcnow()
    digest = _digest(secret)
    family_id = await refresh_token_dao.spend(session, digest, now)
    if family_id is None:
        raise await _refusal(session, digest)
    found = await refresh_token_dao.get_family_with_user(session, family_id)
    if found is None:  # the family went with its user since the UPDATE (a cascade)
        raise RefreshTokenInvalid()
    family, user = found
    new_secret = await _hand_out(session, family, now, ttl_seconds)
    return Issued(user, family.id, _aware(family.auth_time), new_secret)


async def _refusal(session: AsyncSession, digest: str) -> AppError:
    """Why a token could not be spent."""
    found = await refresh_token_dao.get(session, digest)
    if found is None:
        return RefreshTokenInvalid()
    token, family = found
    if token.used_at is not None:
        return RefreshTokenReused(family.id, family.user_id)
    if family.revoked_at is not None:
        return RefreshTokenInvalid()
    return RefreshTokenExpired()


async def revoke_reused(session: AsyncSession, reused: RefreshTokenReused, origin: Origin) -> None:
    """A spent token came back: revoke its family and record it. Nobody is known to act (the
    owner or a thief), so the event has no actor; its target is the family's user."""
    await refresh_token_dao.revoke_family(session, reused.family_id, utcnow())
    await audit.record(session, EventType.REFRESH_REUSED, origin, actor=None, target=reused.user_id)


async def logout(session: AsyncSession, secret: str, origin: Origin) -> None:
    """Revoke the family of `secret` (its latest token or an earlier one): every refresh and
    access token of that login stops working. RefreshTokenInvalid for an unknown token; a
    family already revoked stays so, and nothing more is recorded."""
    found = await refresh_token_dao.get(session, _digest(secret))
    if found is None:
        raise RefreshTokenInvalid()
    _token, family = found
    if await refresh_token_dao.revoke_family(session, family.id, utcnow()):
        await audit.record(
            session,
            EventType.REFRESH_REVOKED,
            origin,
            actor=family.user_id,
            target=family.user_id,
        )


async def revoke_all(session: AsyncSession, user_id: int) -> int:
    """Revoke every family of a user (sign-out everywhere, a password change); how many."""
    return await refresh_token_dao.revoke_families_of(session, user_id, utcnow())


async def user_of_family(session: AsyncSession, user_id: int, family_id: int) -> User | None:
    """The user of an access token that names a family, while that family stands."""
    return await refresh_token_dao.get_user_of_live_family(session, family_id, user_id)


async def delete_expired(session: AsyncSession, *, now: datetime, limit: int = 1000) -> int:
    """One batch of the periodic clean-up: expired tokens (spent ones are kept until then, to
    recognise a reuse), and families expired or revoked (their tokens with them). Returns
    the rows deleted: at least `limit` when either batch came back full, and the job calls
    again."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return await refresh_token_dao.delete_expired(session, now, limit)

"""Browser sessions from the login page: started, looked up, ended on the server."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.browser_sessions import browser_session_dao
from service.models import BrowserSession, User
from service.models.base import utcnow
from service.services import audit
from service.services.audit import EventType, Origin


def _row_id(secret: str) -> str:
    # Only a digest is stored: a copy of the table signs nobody in.
    return hashlib.sha256(secret.encode()).hexdigest()


async def start(session: AsyncSession, user: User, max_age_seconds: int) -> str:
    """A new session for `user`; returns the secret the cookie carries."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = BrowserSession(
        id=_row_id(secret),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age_seconds),
    )
    await browser_session_dao.add(session, row)
    return secret


async def user_for(session: AsyncSession, secret: str) -> tuple[User, datetime] | None:
    """The user of a live session and when they signed in; None once it ended or expired."""
    found = await browser_session_dao.get_user(session, _row_id(secret), utcnow())
    if found is None:
        return None
    user, signed_in_at = found
    if signed_in_at.tzinfo is None:  # SQLite keeps no zone; everything stored is UTC
        signed_in_at = signed_in_at.replace(tzinfo=UTC)
    return user, signed_in_at


async def end(session: AsyncSession, secret: str) -> None:
    """End a session being replaced (a new sign-in in the same browser): not recorded."""
    await browser_session_dao.delete(session, _row_id(secret))


async def sign_out(session: AsyncSession, secret: str, origin: Origin) -> None:
    """End a session on its user's request, recorded in the audit log (if it still stood)."""
    user_id = await browser_session_dao.delete(session, _row_id(secret))
    if user_id is not None:
        await audit.record(
            session, EventType.SESSION_REVOKED, origin, actor=user_id, target=user_id
        )


async def prune(session: AsyncSession) -> int:
    """Delete expired sessions (they no longer sign anyone in); returns how many."""
    return await browser_session_dao.delete_expired(session, utcnow())

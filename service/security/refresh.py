"""Refresh tokens at the edge: the pair a login hands out, rotation, logout.

A reused refresh token makes its request answer 401, which rolls the request's transaction
back; the family's revocation (and its audit event) must stand all the same, so it is written
in a short transaction of its own, after the request's has ended.
"""

from __future__ import annotations

from service import db
from service.errors import RefreshTokenReused
from service.models import User
from service.security.origin import origin
from service.security.state import state
from service.security.tokens import issue_access_token, issue_token
from service.services import refresh_tokens


async def issue_tokens(user: User) -> tuple[str, str]:
    """A token and a refresh token (a new family) for a user who has just proved who they are
    (login, registration). The token is of the family: logging the family out ends it."""
    sec = state()
    issued = await refresh_tokens.start(
        db.session(),
        user,
        ttl_seconds=sec.refresh_token_ttl_seconds,
        max_age_seconds=sec.token_max_age_seconds,
    )
    token = issue_token(user, family=issued.family_id, auth_time=issued.auth_time)
    return token, issued.secret


async def refresh(secret: str) -> tuple[User, str, str]:
    """Spend a refresh token: its user, a new access token and the next refresh token.
    RefreshTokenInvalid, RefreshTokenExpired, or RefreshTokenReused (the family revoked)."""
    session = db.session()
    try:
        issued = await refresh_tokens.rotate(
            session, secret, ttl_seconds=state().refresh_token_ttl_seconds
        )
    except RefreshTokenReused as reused:
        # End this request's transaction first: on SQLite it holds the write lock.
        await session.rollback()
        async with db.database().sessionmaker() as own:
            await refresh_tokens.revoke_reused(own, reused, origin())
            await own.commit()
        raise
    token = issue_access_token(issued.user, family=issued.family_id, auth_time=issued.auth_time)
    return issued.user, token, issued.secret


async def logout(secret: str) -> None:
    """Revoke the family of a refresh token: every refresh and access token of that login."""
    await refresh_tokens.logout(db.session(), secret, origin())

"""API tokens: `Authorization: Token <jwt>` (or `Bearer <jwt>`), issued, renewed and read.

A token names its user, the user's credentials version when it was issued (a password change
or "sign out everywhere" raises it, ending every older token) and the time of the login it
descends from (`auth_time`): renewals keep it, so no chain of renewals outlives
TOKEN_MAX_AGE_SECONDS from that login.
"""

from __future__ import annotations

from datetime import datetime

from quart import g, request

from service.crypto import ExpiredToken, InvalidToken
from service.errors import TokenExpired, TokenInvalid
from service.models import User
from service.security.state import state

AUTH_SCHEMES = ("token", "bearer")


def issue_token(user: User) -> str:
    """A token for a user who has just proved who they are (login, registration)."""
    return state().tokens.issue(user.id, version=user.credentials_version)


def renew_token(user: User) -> str:
    """A new token for the authenticated caller, as old as their login allows."""
    auth_time: datetime | None = g.get("auth_time")
    return state().tokens.issue(user.id, version=user.credentials_version, auth_time=auth_time)


def bearer_token() -> str | None:
    """The token from the Authorization header; None when there is no header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in AUTH_SCHEMES or not token:
        raise TokenInvalid()
    return token


def token_user_id(token: str) -> tuple[int, int, datetime]:
    """User id, credentials version and login time of a valid token; TokenExpired or TokenInvalid
    otherwise.
    The version is for the caller to compare with the user row it loads."""
    try:
        claims = state().tokens.read(token)
    except ExpiredToken:
        raise TokenExpired() from None
    except InvalidToken:
        raise TokenInvalid() from None
    return claims.user_id, claims.version, claims.auth_time

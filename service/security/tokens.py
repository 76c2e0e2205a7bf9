"""API tokens: `Authorization: Token <jwt>` (or `Bearer <jwt>`), issued, renewed and read.

A token names its user, the user's credentials version when it was issued (a password change
or "sign out everywhere" raises it, ending every older token) and the time of the login it
descends from (`auth_time`): renewals keep it, so no chain of renewals outlives
TOKEN_MAX_AGE_SECONDS from that login. A token issued with a refresh token also names its
refresh-token family (`fam`): revoking the family ends it. Two kinds: Conduit tokens
(JWT_TTL_SECONDS, while LEGACY_TOKENS is on) and short access tokens (`typ: access`,
ACCESS_TOKEN_TTL_SECONDS); a renewal is of the kind it renews.
"""

from __future__ import annotations

from datetime import datetime

from quart import g, request

from service.crypto import ExpiredToken, InvalidToken, TokenClaims
from service.errors import TokenExpired, TokenInvalid
from service.models import User
from service.security.state import credentials_changed, state

AUTH_SCHEMES = ("token", "bearer")


def issue_token(user: User, *, family: int | None = None, auth_time: datetime | None = None) -> str:
    """A token for a user who has just proved who they are (login, registration): a Conduit
    token while LEGACY_TOKENS is on, else an access token; `family` ties it to a refresh
    token's family, `auth_time` is that login's time."""
    sec = state()
    credentials_changed(user.id)
    return sec.tokens.issue(
        user.id,
        version=user.credentials_version,
        auth_time=auth_time,
        family=family,
        access=not sec.legacy_tokens,
    )


def issue_access_token(user: User, *, family: int, auth_time: datetime) -> str:
    """A short access token of a refresh-token family (what /api/users/refresh hands out)."""
    credentials_changed(user.id)
    return state().tokens.issue(
        user.id, version=user.credentials_version, auth_time=auth_time, family=family, access=True
    )


def renew_token(user: User) -> str:
    """A new token for the authenticated caller, as old as their login allows, of the kind
    and family of the one it renews. If this request revoked the caller's credentials (a
    password change), their family went too: the renewal belongs to none."""
    sec = state()
    family: int | None = g.get("token_family")
    if user.credentials_version != g.get("token_version", user.credentials_version):
        family = None
    return sec.tokens.issue(
        user.id,
        version=user.credentials_version,
        auth_time=g.get("auth_time"),
        family=family,
        access=bool(g.get("token_access")) or not sec.legacy_tokens,
    )


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


def token_claims(token: str) -> TokenClaims:
    """The claims of a valid token; TokenExpired or TokenInvalid otherwise. Whether its
    credentials version is still the user's, and its family still stands, is for the caller
    to check against the user row it loads."""
    try:
        return state().tokens.read(token)
    except ExpiredToken:
        raise TokenExpired() from None
    except InvalidToken:
        raise TokenInvalid() from None

"""API tokens: `Authorization: Token <jwt>` (or `Bearer <jwt>`), issued and read."""

from __future__ import annotations

from quart import request

from service.errors import TokenInvalid
from service.models import User
from service.security.state import state

AUTH_SCHEMES = ("token", "bearer")


def issue_token(user: User) -> str:
    return state().tokens.issue(user.id)


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

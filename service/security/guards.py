"""Route guards: who is calling (token or session cookie), and the decorators that require it.

`credentials_user` is the one place that reads either kind of credentials; every decorator
goes through it. A cookie-authenticated request that changes state must carry the session's
CSRF token (`X-CSRF-Token` header or `csrf_token` form field); a token-authenticated one needs
none, as no browser attaches it by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request
from quart_schema import security_scheme

from service import db
from service.errors import TokenInvalid, TokenMissing, UserForbidden
from service.models import User
from service.security.csrf import CSRF_HEADER, check_csrf
from service.security.sessions import session_user
from service.security.tokens import bearer_token, token_claims
from service.services import refresh_tokens
from service.services import users as user_service

P = ParamSpec("P")
R = TypeVar("R")

SECURITY_SCHEMES: dict[str, Any] = {
    "Token": {
        "type": "apiKey",
        "in_": "header",
        "name": "Authorization",
    }
}
REQUIRED: list[dict[str, list[str]]] = [{"Token": []}]
OPTIONAL: list[dict[str, list[str]]] = [{}, {"Token": []}]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def credentials_user() -> User | None:
    """The user behind the request's credentials, None if it sent none; 401 if they are bad,
    403 for a cookie-authenticated write without its CSRF token."""
    token = bearer_token()
    if token is None:
        user = await session_user()
        if user is not None and request.method in UNSAFE_METHODS:
            check_csrf(request.headers.get(CSRF_HEADER))
        return user
    claims = token_claims(token)
    # A token of a refresh-token family: the user, only while the family stands (one
    # statement either way).
    user = (
        await user_service.get_by_id(db.session(), claims.user_id)
        if claims.family is None
        else await refresh_tokens.user_of_family(db.session(), claims.user_id, claims.family)
    )
    # Deleted since, its family revoked, or its credentials changed since (password, "sign
    # out everywhere"): checked against the rows on every request, whatever the token cache
    # remembers.
    if user is None or user.credentials_version != claims.version:
        raise TokenInvalid()
    g.auth_time = claims.auth_time
    g.token_family = claims.family
    g.token_access = claims.access
    g.token_version = claims.version
    return user


def current_user() -> User:
    """The authenticated user of a route decorated with require_user or require_admin."""
    user: User | None = g.get("user")
    if user is None:
        raise TokenMissing()
    return user


def current_user_or_none() -> User | None:
    """The caller on a route decorated with optional_user; None when anonymous."""
    user: User | None = g.get("user")
    return user


def require_user(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """401 unless the request carries valid credentials."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user = await credentials_user()
        if user is None:
            raise TokenMissing()
        g.user = user
        return await func(*args, **kwargs)

    return security_scheme(REQUIRED)(wrapper)


def optional_user(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Anonymous is fine; credentials that are sent must be valid (401 otherwise)."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.user = await credentials_user()
        return await func(*args, **kwargs)

    return security_scheme(OPTIONAL)(wrapper)


def require_admin(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """401 without credentials, 403 for a user who is not an admin."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user = await credentials_user()
        if user is None:
            raise TokenMissing()
        if not user.is_admin:
            raise UserForbidden()
        g.user = user
        return await func(*args, **kwargs)

    return security_scheme(REQUIRED)(wrapper)

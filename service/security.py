"""Who is calling: token authentication, route decorators and access checks.

A request authenticates with `Authorization: Token <jwt>` (or `Bearer <jwt>`). The browser
sign-in adds a second source in `_credentials_user`; every decorator goes through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import Quart, current_app, g, request
from quart_schema import security_scheme

from service import db
from service.config import Settings
from service.crypto import InvalidToken, PasswordHasher, TokenCodec
from service.errors import TokenInvalid, TokenMissing, UserForbidden
from service.models import User
from service.services import users as user_service

P = ParamSpec("P")
R = TypeVar("R")

AUTH_SCHEMES = ("token", "bearer")
SECURITY_SCHEMES: dict[str, Any] = {
    "Token": {
        "type": "apiKey",
        "in_": "header",
        "name": "Authorization",
    }
}
REQUIRED: list[dict[str, list[str]]] = [{"Token": []}]
OPTIONAL: list[dict[str, list[str]]] = [{}, {"Token": []}]


@dataclass
class Security:
    hasher: PasswordHasher
    tokens: TokenCodec


def init_app(app: Quart, settings: Settings) -> Security:
    security = Security(
        hasher=PasswordHasher.from_settings(settings),
        tokens=TokenCodec(settings.secret_key.get_secret_value(), settings.jwt_ttl_seconds),
    )
    app.extensions["security"] = security

    @app.after_serving
    async def _stop_hashing() -> None:
        security.hasher.close()

    return security


def _security() -> Security:
    sec: Security = current_app.extensions["security"]
    return sec


def hasher() -> PasswordHasher:
    return _security().hasher


def issue_token(user: User) -> str:
    return _security().tokens.issue(user.id)


def _bearer_token() -> str | None:
    """The token from the Authorization header; None when there is no header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in AUTH_SCHEMES or not token:
        raise TokenInvalid()
    return token


async def _credentials_user() -> User | None:
    """The user behind the request's credentials, None if it sent none; 401 if they are bad."""
    token = _bearer_token()
    if token is None:
        return None
    try:
        claims = _security().tokens.read(token)
    except InvalidToken:
        raise TokenInvalid() from None
    user = await user_service.get_by_id(db.session(), claims.user_id)
    if user is None:  # deleted since the token was issued
        raise TokenInvalid()
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
        user = await _credentials_user()
        if user is None:
            raise TokenMissing()
        g.user = user
        return await func(*args, **kwargs)

    return security_scheme(REQUIRED)(wrapper)


def optional_user(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Anonymous is fine; credentials that are sent must be valid (401 otherwise)."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.user = await _credentials_user()
        return await func(*args, **kwargs)

    return security_scheme(OPTIONAL)(wrapper)


def require_admin(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """401 without credentials, 403 for a user who is not an admin."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user = await _credentials_user()
        if user is None:
            raise TokenMissing()
        if not user.is_admin:
            raise UserForbidden()
        g.user = user
        return await func(*args, **kwargs)

    return security_scheme(REQUIRED)(wrapper)

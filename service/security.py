"""Who is calling: tokens, the browser session, CSRF, login limits, route decorators.

A request authenticates with `Authorization: Token <jwt>` (or `Bearer <jwt>`) or, from a
browser signed in on /login, with the signed session cookie. `_credentials_user` is the one
place that reads either; every decorator goes through it. A cookie-authenticated request that
changes state must carry the session's CSRF token (`X-CSRF-Token` header or `csrf_token` form
field); a token-authenticated one needs none, as no browser attaches it by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import Quart, current_app, g, request, session
from quart_schema import security_scheme

from service import db
from service.config import Settings
from service.crypto import ExpiredToken, InvalidToken, PasswordHasher, TokenCodec
from service.errors import (
    BadCredentials,
    CsrfFailed,
    HashingBusy,
    LoginRateLimited,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    UserForbidden,
)
from service.models import User
from service.ratelimit import Counters, LoginLimiter, MemoryCounters, RedisCounters
from service.services import users as user_service

log = logging.getLogger("service.auth")

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

SESSION_COOKIE = "conduit_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Security:
    hasher: PasswordHasher
    tokens: TokenCodec
    limiter: LoginLimiter


def init_app(app: Quart, settings: Settings) -> Security:
    counters: Counters = (
        RedisCounters(settings.redis_url, settings.rate_limit_key_prefix)
        if settings.redis_url
        else MemoryCounters()
    )
    security = Security(
        hasher=PasswordHasher.from_settings(settings),
        tokens=TokenCodec(settings.secret_key.get_secret_value(), settings.jwt_ttl_seconds),
        limiter=LoginLimiter(
            counters,
            per_account=settings.login_rate_limit_per_account,
            per_address=settings.login_rate_limit_per_address,
            window=settings.login_rate_limit_window_seconds,
        ),
    )
    app.extensions["security"] = security
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max_age_seconds),
    )

    @app.after_serving
    async def _stop() -> None:
        security.hasher.close()
        await counters.close()

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


def _fingerprint(user: User) -> str:
    # Changes with the password, so a password change ends every browser session.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def csrf_token() -> str:
    """The session's CSRF token, made on first use (the login form needs one already)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(sent: str | None) -> None:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfFailed()


def sign_in(user: User) -> None:
    """A fresh session for `user`: old contents and CSRF token are dropped (no fixation)."""
    session.clear()
    session["uid"] = user.id
    session["fp"] = _fingerprint(user)
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


def sign_out() -> None:
    session.clear()


async def session_user() -> User | None:
    """The user signed in through the login page, if the cookie still stands for them."""
    user_id = session.get("uid")
    if not isinstance(user_id, int):
        return None
    user = await user_service.get_by_id(db.session(), user_id)
    if user is None or session.get("fp") != _fingerprint(user):
        session.clear()  # deleted account or changed password
        return None
    return user


async def authenticate(email: str, password: str) -> User:
    """Check a login (page or API) under the rate limits; failures are logged, never the
    password. LoginRateLimited (429) before any hashing once a limit is reached."""
    address = request.remote_addr
    limiter = _security().limiter
    hasher().check_capacity()  # HashingBusy (503) first: a login refused is not a failed one
    wait = await limiter.attempt(email, address)
    fields = {"email": email[:320], "client": address}
    if wait:
        log.warning("login rate limited", extra={"fields": {**fields, "retry_after": wait}})
        raise LoginRateLimited(wait)
    try:
        user = await user_service.authenticate(
            db.session(), hasher(), email=email, password=password
        )
    except BadCredentials:
        log.warning("login failed", extra={"fields": fields})
        raise
    except HashingBusy:  # became busy while the limits were counted
        await limiter.withdrawn(email, address)
        raise
    await limiter.succeeded(email, address)
    return user


async def _credentials_user() -> User | None:
    """The user behind the request's credentials, None if it sent none; 401 if they are bad,
    403 for a cookie-authenticated write without its CSRF token."""
    token = _bearer_token()
    if token is None:
        user = await session_user()
        if user is not None and request.method in UNSAFE_METHODS:
            check_csrf(request.headers.get(CSRF_HEADER))
        return user
    try:
        claims = _security().tokens.read(token)
    except ExpiredToken:
        raise TokenExpired() from None
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

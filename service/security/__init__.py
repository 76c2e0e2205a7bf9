"""Who is calling: tokens, the browser session, CSRF, login limits, route decorators.

A request authenticates with `Authorization: Token <jwt>` (or `Bearer <jwt>`) or, from a
browser signed in on /login, with the signed session cookie. One module per concern:
`tokens` (API tokens), `refresh` (refresh tokens: pairs, rotation, logout), `sessions` (the
browser session), `csrf`, `limits` (logins and registrations under their rate limits),
`guards` (who is calling, and the route decorators), `origin` (the request's address and id,
for the audit log); `state` holds the app's objects. Routes use the names re-exported here.
"""

from __future__ import annotations

from datetime import timedelta

from quart import Quart

from service.config import Settings
from service.crypto import PasswordHasher, TokenCodec
from service.ratelimit import (
    Counters,
    LoginLimiter,
    MemoryCounters,
    PasswordResetLimiter,
    RedisCounters,
    RegistrationLimiter,
)
from service.security.csrf import CSRF_FIELD, CSRF_HEADER, check_csrf, csrf_token
from service.security.guards import (
    SECURITY_SCHEMES,
    current_user,
    current_user_or_none,
    optional_user,
    require_admin,
    require_user,
)
from service.security.limits import (
    authenticate,
    change_password,
    hash_owner,
    register,
    request_password_reset,
    reset_password,
)
from service.security.origin import origin
from service.security.refresh import issue_tokens, logout, refresh
from service.security.sessions import (
    SESSION_COOKIE,
    CookieSessions,
    session_user,
    sign_in,
    sign_out,
    sign_out_everywhere,
)
from service.security.state import Security, hasher
from service.security.tokens import issue_token, renew_token

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SECURITY_SCHEMES",
    "SESSION_COOKIE",
    "Security",
    "authenticate",
    "change_password",
    "check_csrf",
    "csrf_token",
    "current_user",
    "current_user_or_none",
    "hasher",
    "init_app",
    "issue_token",
    "issue_tokens",
    "logout",
    "optional_user",
    "origin",
    "refresh",
    "register",
    "renew_token",
    "request_password_reset",
    "require_admin",
    "require_user",
    "reset_password",
    "session_user",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
]


def init_app(app: Quart, settings: Settings) -> Security:
    counters: Counters = (
        RedisCounters(settings.redis_url, settings.rate_limit_key_prefix)
        if settings.redis_url
        else MemoryCounters()
    )
    security = Security(
        hasher=PasswordHasher.from_settings(settings),
        tokens=TokenCodec(
            settings.secret_key.get_secret_value(),
            settings.jwt_ttl_seconds,
            max_age_seconds=settings.token_max_age_seconds,
            access_ttl_seconds=settings.access_token_ttl_seconds,
            legacy=settings.legacy_tokens,
        ),
        limiter=LoginLimiter(
            counters,
            per_account_address=settings.login_rate_limit_per_account_address,
            per_account=settings.login_rate_limit_per_account,
            per_address=settings.login_rate_limit_per_address,
            window=settings.login_rate_limit_window_seconds,
            known_for=settings.login_known_address_seconds,
        ),
        registrations=RegistrationLimiter(
            counters,
            per_address=settings.register_rate_limit_per_address,
            window=settings.register_rate_limit_window_seconds,
        ),
        session_max_age_seconds=settings.session_max_age_seconds,
        refresh_token_ttl_seconds=settings.refresh_token_ttl_seconds,
        token_max_age_seconds=settings.token_max_age_seconds,
        legacy_tokens=settings.legacy_tokens,
        resets=PasswordResetLimiter(
            counters,
            per_address=settings.password_reset_rate_limit_per_address,
            per_account=settings.password_reset_rate_limit_per_account,
            window=settings.password_reset_rate_limit_window_seconds,
        ),
        password_reset_ttl_seconds=settings.password_reset_ttl_seconds,
        counters=counters,
    )
    # Each client address gets its share of the hashing threads, no more.
    security.hasher.owner = hash_owner
    app.extensions["security"] = security
    app.session_interface = CookieSessions()
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

"""The app's security objects (hasher, token codec, limiters), shared by this package."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app, g

from service.crypto import PasswordHasher, TokenCodec
from service.ratelimit import Counters, LoginLimiter, PasswordResetLimiter, RegistrationLimiter


@dataclass
class Security:
    hasher: PasswordHasher
    tokens: TokenCodec
    limiter: LoginLimiter
    registrations: RegistrationLimiter
    session_max_age_seconds: int
    refresh_token_ttl_seconds: int
    token_max_age_seconds: int
    # Conduit tokens (JWT_TTL_SECONDS) from login, registration and renewal; off, every token
    # handed out is a short access token, and Conduit tokens are refused.
    legacy_tokens: bool
    resets: PasswordResetLimiter
    password_reset_ttl_seconds: int
    # The limiters' store (Redis or memory), which read routing shares for its marks.
    counters: Counters


def state() -> Security:
    sec: Security = current_app.extensions["security"]
    return sec


def credentials_changed(user_id: int) -> None:
    """This request issues, changes or revokes `user_id`'s credentials (a token, a browser
    session, a password). With a read replica, every read that carries that user's credentials
    uses the primary for a while once the request commits (read_routing.py): a new login finds
    its rows, a revoked one is refused at once."""
    accounts: set[int] = g.setdefault("credentials_changed", set())
    accounts.add(user_id)


def hasher() -> PasswordHasher:
    return state().hasher

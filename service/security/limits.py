"""Logins, registrations and password resets under their rate limits (page and API alike),
and the client address each password hash is done for (the hashing threads' fair share)."""

from __future__ import annotations

import logging

from quart import has_request_context, request

from service import db
from service.errors import (
    BadCredentials,
    HashingBusy,
    LoginRateLimited,
    PasswordResetRateLimited,
    RegistrationRateLimited,
)
from service.models import User
from service.security.origin import origin
from service.security.state import credentials_changed, hasher, state
from service.services import password_resets as password_reset_service
from service.services import users as user_service

log = logging.getLogger("service.auth")


async def authenticate(email: str, password: str) -> User:
    """Check a login (page or API) under the rate limits; failures are logged, never the
    password. LoginRateLimited (429) before any hashing once a limit is reached."""
    address = request.remote_addr
    limiter = state().limiter
    hasher().check_capacity()  # HashingBusy (503) first: a login refused is not a failed one
    wait = await limiter.attempt(email, address)
    fields = {"email": email[:320], "client": address}
    if wait:
        log.warning("login rate limited", extra={"fields": {**fields, "retry_after": wait}})
        raise LoginRateLimited(wait)
    try:
        user = await user_service.authenticate(
            db.session(), hasher(), email=email, password=password, origin=origin()
        )
    except BadCredentials:
        log.warning("login failed", extra={"fields": fields})
        await _record_failed_login(email)
        raise
    except HashingBusy:  # became busy while the limits were counted
        await limiter.withdrawn(email, address)
        raise
    await limiter.succeeded(email, address)
    return user


async def _record_failed_login(email: str) -> None:
    """In a short transaction of its own: the failed login's request answers 401 and rolls
    its own back. That one has nothing open (the read ended before the hash), so on SQLite
    the write lock is free."""
    await db.session().rollback()
    async with db.database().sessionmaker() as session:
        await user_service.record_failed_login(session, email, origin())
        await session.commit()


async def register(username: str, email: str, password: str) -> User:
    """Create an account under the registration limit (RegistrationRateLimited, 429, before
    any query or hash); 409 for a taken username or email, counted like any attempt."""
    address = request.remote_addr
    limiter = state().registrations
    hasher().check_capacity()  # HashingBusy (503) first: refused for load, not counted
    wait = await limiter.attempt(address)
    if wait:
        log.warning(
            "registration rate limited",
            extra={"fields": {"client": address, "retry_after": wait}},
        )
        raise RegistrationRateLimited(wait)
    try:
        return await user_service.register(
            db.session(),
            hasher(),
            username=username,
            email=email,
            password=password,
            origin=origin(),
        )
    except HashingBusy:
        await limiter.withdrawn(address)
        raise


async def request_password_reset(email: str) -> int:
    """Ask for a reset link under the per-address and per-email limits (PasswordResetRateLimited,
    429, before any query); the same work and answer whether or not an account uses `email`.
    Returns the link's lifetime in seconds."""
    address = request.remote_addr
    sec = state()
    wait = await sec.resets.attempt(email, address)
    if wait:
        log.warning(
            "password reset rate limited",
            extra={"fields": {"client": address, "retry_after": wait}},
        )
        raise PasswordResetRateLimited(wait)
    await password_reset_service.request(db.session(), email, sec.password_reset_ttl_seconds)
    return sec.password_reset_ttl_seconds


async def reset_password(token: str, password: str) -> User:
    """Set a new password with a reset token (422 for a bad one; 503 when hashing is busy)."""
    user = await password_reset_service.confirm(
        db.session(), hasher(), token, password, origin=origin()
    )
    credentials_changed(user.id)  # every older token and session of the account ends
    return user


async def change_password(user: User, current: str, new: str) -> User:
    """The signed-in user's new password, once the current one is proved. Checking it counts
    as a login attempt under the same limits (LoginRateLimited, 429), so a stolen session
    cannot guess the password any faster than the login form could."""
    address = request.remote_addr
    limiter = state().limiter
    hasher().check_capacity()
    wait = await limiter.attempt(user.email, address)
    fields = {"user_id": user.id, "client": address}
    if wait:
        log.warning(
            "password change rate limited", extra={"fields": {**fields, "retry_after": wait}}
        )
        raise LoginRateLimited(wait)
    try:
        updated = await user_service.change_password(
            db.session(), hasher(), user, current=current, new=new, origin=origin()
        )
    except BadCredentials:
        log.warning("password change refused: wrong current password", extra={"fields": fields})
        raise
    except HashingBusy:
        await limiter.withdrawn(user.email, address)
        raise
    await limiter.succeeded(user.email, address)
    return updated


def hash_owner() -> str | None:
    """The client a password hash is done for: its address, within a request."""
    return request.remote_addr if has_request_context() else None

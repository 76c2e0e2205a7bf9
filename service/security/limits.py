"""Logins and registrations under their rate limits (page and API alike), and the client
address each password hash is done for (the hashing threads' fair share)."""

from __future__ import annotations

import logging

from quart import has_request_context, request

from service import db
from service.errors import BadCredentials, HashingBusy, LoginRateLimited, RegistrationRateLimited
from service.models import User
from service.security.origin import origin
from service.security.state import hasher, state
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


def hash_owner() -> str | None:
    """The client a password hash is done for: its address, within a request."""
    return request.remote_addr if has_request_context() else None

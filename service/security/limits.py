"""Logins under their rate limits (page and API alike)."""

from __future__ import annotations

import logging

from quart import request

from service import db
from service.errors import BadCredentials, HashingBusy, LoginRateLimited
from service.models import User
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

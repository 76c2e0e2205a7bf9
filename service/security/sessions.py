"""The browser session: a signed cookie set by the login page, backed by a row on the server.

The cookie holds a random secret (and the CSRF token); the `browser_sessions` row keyed by
its digest is what signs the browser in. Sign-out deletes the row, so a copy of the cookie
is worth nothing afterwards; a password change or "sign out everywhere" deletes all of the
user's rows. The row's expiry is fixed at sign-in (SESSION_MAX_AGE_SECONDS): refreshing the
cookie never extends it.
"""

from __future__ import annotations

import secrets
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from quart import Quart, g, session
from quart.sessions import SecureCookieSessionInterface

from service import db
from service.models import User
from service.security.origin import origin
from service.security.state import credentials_changed, state
from service.services import browser_sessions
from service.services import users as user_service

SESSION_COOKIE = "conduit_session"


class CookieSessions(SecureCookieSessionInterface):
    """Quart's signed-cookie sessions, with the cookie's signer built once per set of keys.

    Quart builds it on every request, cookie or not (the key list, the serializer and its
    signer): a measurable share of a read that sends no cookie (docs/bench/profile.md). The
    keys come from the config each time, so a changed SECRET_KEY (or fallbacks) gets a new
    signer, never an old one.
    """

    def __init__(self) -> None:
        self._signers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Quart) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self._signers:
            self._signers.clear()  # only the current keys are kept
            self._signers[keys] = super().get_signing_serializer(app)
        return self._signers[keys]


async def sign_in(user: User) -> None:
    """A fresh session for `user`: old contents and CSRF token are dropped (no fixation), and
    the session this browser had before ends on the server."""
    previous = session.get("sid")
    if isinstance(previous, str):
        await browser_sessions.end(db.session(), previous)
    session.clear()
    secret = await browser_sessions.start(db.session(), user, state().session_max_age_seconds)
    session["sid"] = secret
    # Whose session, readable before any query: it only steers reads to the primary after
    # this user's writes (read_routing.py); the row alone signs the browser in.
    session["uid"] = user.id
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    credentials_changed(user.id)


async def sign_out() -> None:
    """End this browser's session on the server (recorded in the audit log)."""
    secret = session.get("sid")
    if isinstance(secret, str):
        await browser_sessions.sign_out(db.session(), secret, origin())
        uid = session.get("uid")
        if isinstance(uid, int):
            credentials_changed(uid)  # a copy of the cookie is refused at once
    session.clear()


async def sign_out_everywhere(user: User) -> None:
    """End every token, refresh-token family and browser session of `user`, this browser's
    included."""
    await user_service.revoke_credentials(db.session(), user, actor=user, origin=origin())
    credentials_changed(user.id)
    session.clear()


async def session_user() -> User | None:
    """The user signed in through the login page, while the session stands on the server."""
    secret = session.get("sid")
    if not isinstance(secret, str):
        return None
    found = await browser_sessions.user_for(db.session(), secret)
    if found is None:
        session.clear()  # signed out elsewhere, expired, password changed, account deleted
        return None
    user, g.auth_time = found
    return user

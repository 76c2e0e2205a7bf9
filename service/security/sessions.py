"""The browser session: a signed cookie set by the login page."""

from __future__ import annotations

import hashlib
import secrets

from quart import session

from service import db
from service.models import User
from service.services import users as user_service

SESSION_COOKIE = "conduit_session"


def _fingerprint(user: User) -> str:
    # Changes with the password, so a password change ends every browser session.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


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

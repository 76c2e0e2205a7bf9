"""CSRF for cookie-authenticated requests: a random token per browser session, sent back in
a form field or a header and compared in constant time."""

from __future__ import annotations

import hmac
import secrets

from quart import session

from service.errors import CsrfFailed

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


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

"""The session cookie's signer is built once per set of keys, and never outlives them."""

from __future__ import annotations

import pytest
from itsdangerous import BadSignature
from quart import Quart

from service.security.sessions import CookieSessions

OLD_KEY = "old-key-0123456789-abcdefghijklmnopqrstuv"
NEW_KEY = "new-key-0123456789-abcdefghijklmnopqrstuv"


def test_the_signer_is_reused_while_the_keys_stay() -> None:
    app = Quart(__name__)
    app.config["SECRET_KEY"] = OLD_KEY
    sessions = CookieSessions()
    assert sessions.get_signing_serializer(app) is sessions.get_signing_serializer(app)


def test_a_new_key_gets_a_new_signer_and_old_cookies_only_through_fallbacks() -> None:
    app = Quart(__name__)
    app.config["SECRET_KEY"] = OLD_KEY
    sessions = CookieSessions()
    old = sessions.get_signing_serializer(app)
    assert old is not None
    cookie = old.dumps({"sid": "s"})

    app.config["SECRET_KEY"] = NEW_KEY
    new = sessions.get_signing_serializer(app)
    assert new is not None
    assert new is not old
    with pytest.raises(BadSignature):
        new.loads(cookie)

    app.config["SECRET_KEY_FALLBACKS"] = [OLD_KEY]
    rotating = sessions.get_signing_serializer(app)
    assert rotating is not None
    assert rotating.loads(cookie) == {"sid": "s"}


def test_no_key_no_signer() -> None:
    app = Quart(__name__)
    app.config["SECRET_KEY"] = None
    assert CookieSessions().get_signing_serializer(app) is None

"""The send job's service: the link from PUBLIC_BASE_URL (validated, never guessed), the same
token on a rerun, nothing for no account, an expired request or an email already sent."""

from __future__ import annotations

import secrets
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from service.clients.mailer import FolderMailer
from service.config import ConfigError, load_config
from service.models.base import utcnow
from service.services import password_resets as password_reset_service
from service.services.mail import Sender
from service.services.password_resets import ResetLinks, ResetLinksUnavailable
from tests.signin.reset_helpers import reset_rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://conduit.example", "https://conduit.example"),
        ("https://conduit.example/", "https://conduit.example"),
        ("http://127.0.0.1:8000/app/", "http://127.0.0.1:8000/app"),
        ("", None),
    ],
)
def test_public_base_url_is_normalised(value, expected):
    assert load_config("testing", public_base_url=value).public_base_url == expected


@pytest.mark.parametrize(
    "value",
    [
        "conduit.example",
        "ftp://conduit.example",
        "https://conduit.example/?next=x",
        "https://conduit.example/#top",
        "https://user@conduit.example",
        "https:///path",
        "https://conduit.example:99999",
    ],
)
def test_public_base_url_must_be_a_plain_web_address(value):
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL: must be an http or https URL"):
        load_config("testing", public_base_url=value)


def test_deployed_environments_have_no_default_base_url():
    assert load_config("development").public_base_url == "http://localhost:8000"
    production = load_config(
        "production", secret_key="p" * 40, database_url="sqlite+aiosqlite:///x"
    )
    assert production.public_base_url is None


async def _send(app, sender, links, user_id, nonce, expires_in=3600):
    async with app.extensions["db"].sessionmaker() as session:
        sent = await password_reset_service.send_link(
            session,
            sender,
            links,
            user_id=user_id,
            nonce=nonce,
            expires_at=(utcnow() + timedelta(seconds=expires_in)).isoformat(),
        )
        await session.commit()
    return sent


async def test_send_link_once_per_request_and_the_same_link_on_a_rerun(app, users, tmp_path):
    jake = await users.make(username="<jake>")
    sender = Sender(FolderMailer(str(tmp_path)), "Conduit <a@conduit.example>")
    links = ResetLinks(b"k" * 32, "https://conduit.example")
    nonce = secrets.token_urlsafe(32)
    assert await _send(app, sender, links, jake.id, nonce) is True
    assert await _send(app, sender, links, jake.id, nonce) is False  # the job ran twice
    assert await _send(app, sender, links, None, secrets.token_urlsafe(32)) is False
    assert await _send(app, sender, links, 999_999, secrets.token_urlsafe(32)) is False
    late = secrets.token_urlsafe(32)
    assert await _send(app, sender, links, jake.id, late, expires_in=-1) is False
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 1
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    token = links.token(nonce)
    assert links.token(nonce) == token != links.token(late)
    assert f"https://conduit.example/password-reset/confirm?token={token}" in (
        message.get_body(("plain",)).get_content()
    )
    assert "Hello &lt;jake&gt;," in message.get_body(("html",)).get_content()
    assert len(await reset_rows(app)) == 1


async def test_without_public_base_url_the_job_fails_and_stores_nothing(app, users, tmp_path):
    jake = await users.make()
    sender = Sender(FolderMailer(str(tmp_path)), "Conduit <a@conduit.example>")
    links = ResetLinks(b"k" * 32, None)
    with pytest.raises(ResetLinksUnavailable, match="PUBLIC_BASE_URL is not set"):
        await _send(app, sender, links, jake.id, secrets.token_urlsafe(32))
    assert list(tmp_path.glob("*.eml")) == []
    assert await reset_rows(app) == []

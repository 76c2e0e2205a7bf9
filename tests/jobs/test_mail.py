"""Email: the welcome message is enqueued in the registration's transaction and delivered to a
real SMTP server (aiosmtpd) by the worker; without SMTP_URL it lands in a folder."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from service.clients.mailer import FolderMailer, parse_smtp_url
from service.errors import EmailTaken
from service.models import OutboxJob, User
from service.services import mail as mail_service
from service.services import users as user_service
from tests.jobs.helpers import eventually, running_worker, smtp_server


def _body(username: str, email: str | None = None) -> dict[str, object]:
    email = email or f"{username}@example.com"
    return {"user": {"username": username, "email": email, "password": "a long password"}}


async def _count(app, model) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_committed_request_enqueues_one_job_and_rolled_back_none(jobs_app, monkeypatch):
    app = await jobs_app(jobs_in_process=False)  # nothing takes the rows: count them
    client = app.test_client()
    response = await client.post("/api/users", json=_body("ann"))
    assert response.status_code == 201
    async with app.extensions["db"].sessionmaker() as session:
        rows = (await session.scalars(select(OutboxJob))).all()
    user_id = (await response.get_json())["user"]
    assert [(row.task, row.queue) for row in rows] == [("mail.welcome", "mail")]
    assert set(rows[0].args) == {"user_id"}
    assert user_id

    enqueue = mail_service.enqueue_welcome

    async def enqueue_then_fail(session, user_id):  # the job is written, then the request fails
        await enqueue(session, user_id)
        raise EmailTaken()

    monkeypatch.setattr(user_service.mail_service, "enqueue_welcome", enqueue_then_fail)
    response = await client.post("/api/users", json=_body("bob"))
    assert response.status_code == 409
    assert await _count(app, OutboxJob) == 1  # still only ann's
    assert await _count(app, User) == 1


async def test_welcome_email_through_smtp_exactly_once(jobs_app, monkeypatch):
    async with smtp_server() as smtp:
        app = await jobs_app(smtp_url=SecretStr(smtp.url), mail_from="Conduit <hi@conduit.test>")
        client = app.test_client()
        async with running_worker(app):
            response = await client.post("/api/users", json=_body("carol"))
            assert response.status_code == 201

            async def arrived() -> bool:
                return len(smtp.messages) >= 1

            await eventually(arrived)

            enqueue = mail_service.enqueue_welcome

            async def enqueue_then_fail(session, user_id):
                await enqueue(session, user_id)
                raise EmailTaken()

            monkeypatch.setattr(user_service.mail_service, "enqueue_welcome", enqueue_then_fail)
            assert (await client.post("/api/users", json=_body("dave"))).status_code == 409

            async def outbox_empty() -> bool:
                return await _count(app, OutboxJob) == 0

            await eventually(outbox_empty)
            await asyncio.sleep(0.5)  # time enough for a duplicate or a rolled-back one
        assert len(smtp.messages) == 1, [m["To"] for m in smtp.messages]
        message = smtp.messages[0]
        assert message["To"] == "carol <carol@example.com>"
        assert message["From"] == "Conduit <hi@conduit.test>"
        assert message["Subject"] == "Welcome to Conduit, carol"
        assert message["Message-ID"].startswith("<welcome.")
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Hello carol," in text
        assert "carol@example.com" in text
        assert "<strong>Conduit</strong>" in html
        assert "<p>Hello carol,</p>" in html


async def test_send_once_is_idempotent_and_escapes_html(app, users, tmp_path: Path):
    user = await users.make(username="<eve>", email="eve@example.com")
    sender = mail_service.Sender(FolderMailer(str(tmp_path / "out")), "Conduit <a@b.test>")
    async with app.extensions["db"].sessionmaker() as session:
        assert await mail_service.send_welcome(session, sender, user.id) is True
        await session.commit()
        assert await mail_service.send_welcome(session, sender, user.id) is False  # ran twice
        assert await mail_service.send_welcome(session, sender, 999_999) is False  # no user
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 1, files
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "Welcome to Conduit, <eve>"
    assert "&lt;eve&gt;" in message.get_body(("html",)).get_content()
    assert "Hello <eve>," in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:8025", ("127.0.0.1", 8025, None, None, False, None)),
        ("smtp://u%40x:p%2Fw@mail.example:587", ("mail.example", 587, "u@x", "p/w", False, True)),
        ("smtp://mail.example", ("mail.example", 587, None, None, False, None)),
        ("smtps://u:p@mail.example", ("mail.example", 465, "u", "p", True, False)),
    ],
)
def test_smtp_url_says_tls_and_auth(url, expected):
    """STARTTLS is required whenever a password is sent; smtps:// is TLS from the start."""
    options = parse_smtp_url(url)
    keys = ("hostname", "port", "username", "password", "use_tls", "start_tls")
    assert tuple(options[key] for key in keys) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_smtp_url_refused(url):
    with pytest.raises(ValueError, match=r"smtp|host"):
        parse_smtp_url(url)

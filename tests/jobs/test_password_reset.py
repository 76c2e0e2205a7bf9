"""Password reset by email, end to end through a real SMTP server (aiosmtpd) and the job
worker (in-process on SQLite, service.worker.run on PostgreSQL): the request, the email and its
link, the confirm through the API and through the page, what it revokes; an unknown email sends
nothing; the clean-up of spent tokens."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import select, update

from service.models import OutboxJob, PasswordReset, SentEmail
from service.models.base import utcnow
from tests.factories import UserFactory
from tests.helpers import error_of
from tests.jobs.helpers import eventually, running_worker, smtp_server
from tests.signin.helpers import sign_in, submit_login
from tests.signin.reset_helpers import (
    LINK,
    confirm_on_page,
    confirm_reset,
    count,
    issue_token,
    request_on_page,
    request_reset,
    reset_rows,
)

BASE = "https://conduit.example/app"
NEW_PASSWORD = "a brand new passphrase"


def login(client, email, password):
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


async def _settled(app, smtp, messages: int) -> None:
    """The outbox relayed, `messages` emails in, and time for any other to arrive."""

    async def done() -> bool:
        return await count(app, OutboxJob) == 0 and len(smtp.messages) >= messages

    await eventually(done, 30)
    await asyncio.sleep(0.5)


def _link(message) -> tuple[str, str]:
    """The link of a reset email (plain text and HTML agree) and its token."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    found = LINK.search(text)
    assert found, text
    link, token = found.groups()
    assert f'<a href="{link}">' in html
    return link, token


async def test_reset_by_email_and_api_end_to_end(jobs_app):
    async with smtp_server() as smtp:
        app = await jobs_app(
            smtp_url=SecretStr(smtp.url),
            mail_from="Conduit <hi@conduit.example>",
            public_base_url=BASE + "/",
        )
        client = app.test_client()
        alice = await UserFactory(app).make(username="alice", email="alice@example.com")
        browser = app.test_client()
        await sign_in(browser, alice.email, alice.password)
        async with running_worker(app):
            await _settled(app, smtp, 1)  # the welcome email
            smtp.messages.clear()
            unknown = await request_reset(client, "nobody@example.com")
            known = await request_reset(client, "  Alice@Example.COM ", "203.0.113.5")
            assert unknown.status_code == known.status_code == 202
            await _settled(app, smtp, 1)
        assert len(smtp.messages) == 1, [m["To"] for m in smtp.messages]  # none for nobody
        message = smtp.messages[0]
        assert message["To"] == "alice <alice@example.com>"
        assert message["From"] == "Conduit <hi@conduit.example>"
        assert message["Subject"] == "Reset your Conduit password"
        link, token = _link(message)
        assert link == f"{BASE}/password-reset/confirm?token={token}"  # never the Host header
        assert len(token) == 43  # 256 bits, base64url
        assert "for the next 60 minutes" in message.get_body(("plain",)).get_content()
        # Only the token's hash is stored, with its expiry; nowhere else is the token.
        (row,) = await reset_rows(app)
        assert row.id == hashlib.sha256(token.encode()).hexdigest()
        assert row.user_id == alice.id
        assert row.used_at is None
        async with app.extensions["db"].sessionmaker() as session:
            sent = (await session.scalars(select(SentEmail.key))).all()
        assert token not in " ".join(sent)

        assert (await confirm_reset(client, token, NEW_PASSWORD)).status_code == 204
        await error_of(await client.get("/api/user", headers=alice.headers), 401)
        assert (await browser.get("/account")).status_code == 303
        await error_of(await login(client, alice.email, alice.password), 401)
        assert (await login(client, alice.email, NEW_PASSWORD)).status_code == 200
        again = await confirm_reset(client, token, "yet another passphrase")
        assert await error_of(again, 422) == {"token": ["is invalid or has expired"]}


async def test_reset_by_email_and_page_end_to_end(jobs_app):
    async with smtp_server() as smtp:
        app = await jobs_app(smtp_url=SecretStr(smtp.url), public_base_url=BASE)
        bob = await UserFactory(app).make(username="bob", email="bob@example.com")
        browser = app.test_client()
        async with running_worker(app):
            await _settled(app, smtp, 1)
            smtp.messages.clear()
            first = await request_on_page(browser, bob.email)
            assert first.status_code == 200
            await _settled(app, smtp, 1)
            second = await request_on_page(browser, bob.email)  # asked twice: the newer wins
            assert second.status_code == 200
            await _settled(app, smtp, 2)
        assert len(smtp.messages) == 2
        (_, older), (link, token) = (_link(m) for m in smtp.messages)
        assert older != token
        assert smtp.messages[0]["Message-ID"] != smtp.messages[1]["Message-ID"]
        parts = urlsplit(link)
        path = f"{parts.path.removeprefix('/app')}?{parts.query}"
        stale = await browser.get(f"/password-reset/confirm?token={older}")
        assert stale.status_code == 422  # replaced by the newer link

        done = await confirm_on_page(browser, path, NEW_PASSWORD)
        assert done.status_code == 200
        assert "Your password is changed" in await done.get_data(as_text=True)
        assert (await submit_login(browser, bob.email, NEW_PASSWORD)).status_code == 303
        assert (await submit_login(app.test_client(), bob.email, bob.password)).status_code == 401
        await error_of(await app.test_client().get("/api/user", headers=bob.headers), 401)
        spent = await app.test_client().get(path)
        assert spent.status_code == 422


async def test_a_link_past_its_expiry_is_refused(jobs_app):
    async with smtp_server() as smtp:
        app = await jobs_app(smtp_url=SecretStr(smtp.url), password_reset_ttl_seconds=60)
        client = app.test_client()
        carol = await UserFactory(app).make(email="carol@example.com")
        async with running_worker(app):
            assert (await request_reset(client, carol.email)).status_code == 202
            await _settled(app, smtp, 2)
        (reset,) = [m for m in smtp.messages if m["Subject"] == "Reset your Conduit password"]
        _, token = _link(reset)
        (row,) = await reset_rows(app)
        assert (
            timedelta(seconds=50)
            < row.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
            <= timedelta(seconds=60)
        )
        async with app.extensions["db"].sessionmaker() as session:  # a minute later
            await session.execute(update(PasswordReset).values(expires_at=utcnow()))
            await session.commit()
        await error_of(await confirm_reset(client, token, NEW_PASSWORD), 422)
        assert (await login(client, carol.email, carol.password)).status_code == 200


async def test_cleanup_removes_expired_and_used_tokens(jobs_app):
    app = await jobs_app(cleanup_cron="* * * * * *")
    client = app.test_client()
    dave = await UserFactory(app).make()
    erin = await UserFactory(app).make()
    used = await issue_token(app, dave.id)
    assert (await confirm_reset(client, used, NEW_PASSWORD)).status_code == 204
    await issue_token(app, erin.id, ttl_seconds=60)
    live = await issue_token(app, dave.id)
    async with app.extensions["db"].sessionmaker() as session:
        await session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == erin.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert len(await reset_rows(app)) == 3

    async def only_live_left() -> bool:
        return [row.id for row in await reset_rows(app)] == [
            hashlib.sha256(live.encode()).hexdigest()
        ]

    async with running_worker(app):
        await eventually(only_live_left, 30)
    assert (await confirm_reset(client, live, "the last passphrase")).status_code == 204

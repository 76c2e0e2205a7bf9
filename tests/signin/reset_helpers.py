"""Password reset in tests: tokens issued through the service (as the send job does), and the
reset pages driven like a browser."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from quart import Quart
from sqlalchemy import func, select

from service.models import OutboxJob, PasswordReset, User
from service.models.base import utcnow
from service.services import password_resets as password_reset_service
from tests.signin.helpers import CSRF_INPUT

LINK = re.compile(r"(https?://\S+/password-reset/confirm\?token=([A-Za-z0-9_-]+))")
TOKEN_INPUT = re.compile(r'name="token" value="([^"]*)"')


async def issue_token(app: Quart, user_id: int, ttl_seconds: int = 3600) -> str:
    """A reset token for the user, stored as the send job stores it (its hash)."""
    links = password_reset_service.ResetLinks.from_settings(app.extensions["settings"])
    async with app.extensions["db"].sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        token = await password_reset_service.issue(
            session,
            links,
            user,
            secrets.token_urlsafe(32),
            utcnow() + timedelta(seconds=ttl_seconds),
        )
        await session.commit()
    return token


async def count(app: Quart, model: Any) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def outbox_rows(app: Quart) -> list[OutboxJob]:
    """The reset jobs waiting in the outbox, oldest first (welcome emails left out)."""
    async with app.extensions["db"].sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxJob)
            .where(OutboxJob.task == password_reset_service.SEND_JOB)
            .order_by(OutboxJob.id)
        )
        return list(rows.all())


async def reset_rows(app: Quart) -> list[PasswordReset]:
    async with app.extensions["db"].sessionmaker() as session:
        return list((await session.scalars(select(PasswordReset))).all())


def request_reset(client: Any, email: str, address: str | None = None) -> Any:
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(
        "/api/users/password-reset", json={"user": {"email": email}}, headers=headers
    )


def confirm_reset(client: Any, token: str, password: str) -> Any:
    return client.post(
        "/api/users/password-reset/confirm",
        json={"user": {"token": token, "password": password}},
    )


async def page_csrf(client: Any, path: str) -> tuple[int, str]:
    """Open a page; its status and the form's CSRF token (the cookie jar keeps the session)."""
    response = await client.get(path)
    match = CSRF_INPUT.search(await response.get_data(as_text=True))
    assert match, "no CSRF field in the page"
    return response.status_code, match.group(1)


async def request_on_page(client: Any, email: str, address: str | None = None) -> Any:
    _, csrf = await page_csrf(client, "/password-reset")
    headers = {"X-Forwarded-For": address} if address else {}
    return await client.post(
        "/password-reset", form={"email": email, "csrf_token": csrf}, headers=headers
    )


async def confirm_on_page(client: Any, path: str, password: str) -> Any:
    """Open the emailed link's page (path and query) and submit a new password from it."""
    response = await client.get(path)
    page = await response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the URL holds the token
    csrf, token = CSRF_INPUT.search(page), TOKEN_INPUT.search(page)
    assert csrf, "no CSRF field in the form"
    assert token, "no token field in the form"
    return await client.post(
        "/password-reset/confirm",
        form={"token": token.group(1), "password": password, "csrf_token": csrf.group(1)},
    )

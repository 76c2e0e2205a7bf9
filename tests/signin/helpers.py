"""Driving the sign-in pages through the test client like a browser would."""

from __future__ import annotations

import re
from typing import Any

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login_form(client: Any, path: str = "/login") -> str:
    """Open the login page; returns the form's CSRF token (the cookie jar keeps the session)."""
    response = await client.get(path)
    assert response.status_code == 200
    match = CSRF_INPUT.search(await response.get_data(as_text=True))
    assert match, "no CSRF field in the form"
    return match.group(1)


async def submit_login(
    client: Any, email: str, password: str, *, token: str | None = None, next_: str | None = None
) -> Any:
    if token is None:
        token = await login_form(client)
    form = {"email": email, "password": password, "csrf_token": token}
    if next_ is not None:
        form["next"] = next_
    return await client.post("/login", form=form)


async def sign_in(client: Any, email: str, password: str) -> str:
    """Sign in; returns the CSRF token of the new session (from the account page)."""
    response = await submit_login(client, email, password)
    assert response.status_code == 303, await response.get_data(as_text=True)
    page = await client.get("/account")
    match = CSRF_INPUT.search(await page.get_data(as_text=True))
    assert match
    return match.group(1)


def cookie_header(response: Any, name: str = "conduit_session") -> str:
    for value in response.headers.getlist("Set-Cookie"):
        if value.startswith(name + "="):
            return str(value)
    raise AssertionError(f"no {name} cookie set")

"""The login page, the session cookie, CSRF, sign-out, and open-redirect attempts."""

from __future__ import annotations

import pytest

from tests.helpers import error_of
from tests.signin.helpers import CSRF_INPUT, cookie_header, login_form, sign_in, submit_login


async def test_login_page_is_a_plain_accessible_form(client):
    response = await client.get("/login")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    html = await response.get_data(as_text=True)
    for needle in (
        '<label for="email">',
        '<label for="password">',
        'autocomplete="username"',
        'autocomplete="current-password"',
        'role="alert"',
        'name="csrf_token"',
        "/static/style.css",
    ):
        assert needle in html, needle
    assert "<script" not in html
    assert "style=" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    css = await client.get("/static/style.css")
    assert css.status_code == 200
    assert css.content_type.startswith("text/css")


async def test_session_cookie_flags(client):
    response = await client.get("/login")
    cookie = cookie_header(response).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # tests speak plain http


async def test_cookie_is_secure_outside_development(app_with):
    from pydantic import SecretStr

    app = await app_with(app_env="production", secret_key=SecretStr("p" * 48))
    response = await app.test_client().get("/login")
    cookie = cookie_header(response).lower()
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


async def test_good_login_redirects_and_rotates_the_session(client, users):
    alice = await users.make(username="alice")
    token = await login_form(client)
    response = await submit_login(client, alice.email, alice.password, token=token)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    page = await client.get("/account")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="username">alice<' in html
    assert 'id="role">user<' in html
    new_token = CSRF_INPUT.search(html).group(1)
    assert new_token != token  # a fresh CSRF token with the fresh session
    assert '<meta name="csrf-token" content="' + new_token in html
    again = await client.get("/account")  # a reload stays signed in
    assert again.status_code == 200


async def test_bad_login_rerenders_with_one_generic_message(client, users):
    alice = await users.make()
    wrong = await submit_login(client, alice.email, "not-the-password")
    unknown = await submit_login(client, "nobody@example.com", "whatever-password")
    empty = await submit_login(client, "", "")
    for response in (wrong, unknown, empty):
        assert response.status_code == 401
        html = await response.get_data(as_text=True)
        assert "Invalid email or password." in html
        assert 'name="csrf_token"' in html
    assert (await client.get("/account")).status_code == 303


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/api/user", "/api/user"),
        ("/account?tab=1", "/account?tab=1"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("\\\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/account\r\nSet-Cookie: x=y", "/account"),
        ("http:/evil.example", "/account"),
        ("", "/account"),
    ],
)
async def test_next_must_be_a_local_path(client, users, target, location):
    alice = await users.make()
    response = await submit_login(client, alice.email, alice.password, next_=target)
    assert response.status_code == 303
    assert response.headers["Location"] == location


async def test_login_form_needs_its_csrf_token(client, users):
    alice = await users.make()
    await login_form(client)
    missing = await client.post("/login", form={"email": alice.email, "password": alice.password})
    wrong = await submit_login(client, alice.email, alice.password, token="forged")
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "session expired" in await response.get_data(as_text=True)
    assert (await client.get("/account")).status_code == 303


async def test_logout_needs_csrf_then_clears_the_session(client, users):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    response = await client.post("/logout")
    assert await error_of(response, 403) == {"csrf": ["token is missing or invalid"]}
    response = await client.post("/logout", form={"csrf_token": "forged"})
    await error_of(response, 403)
    assert (await client.get("/account")).status_code == 200  # still signed in
    response = await client.post("/logout", form={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    account = await client.get("/account")
    assert account.status_code == 303
    assert account.headers["Location"] == "/login?next=/account"
    assert await error_of(await client.get("/api/user"), 401) == {"token": ["is missing"]}


async def test_password_change_ends_browser_sessions(client, users):
    alice = await users.make()
    await sign_in(client, alice.email, alice.password)
    changed = await client.put(
        "/api/user", json={"user": {"password": "a-new-password"}}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert (await client.get("/account")).status_code == 303

"""The account page's password form: the current password is required (checked as a login,
under the login limits), the new one twice; afterwards every other session and token is
revoked and this browser stays signed in with a new session."""

from __future__ import annotations

import html as markup
import re

import pytest

from tests.factories import UserFactory
from tests.helpers import error_of
from tests.signin.helpers import CSRF_INPUT, cookie_header, sign_in

NEW = "a brand new passphrase"


def field_error(html: str, name: str) -> str | None:
    match = re.search(rf'<span id="{name}-error" class="field-error">([^<]*)</span>', html)
    return markup.unescape(match.group(1)) if match else None


def session_cookie(client) -> str:
    for cookie in client.cookie_jar:
        if cookie.name == "conduit_session":
            return f"conduit_session={cookie.value}"
    raise AssertionError("no session cookie")


def change(client, token, current, new=NEW, again=None, headers=None):
    form = {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
        "csrf_token": token,
    }
    return client.post("/account/password", form=form, headers=headers or {})


async def api_token(client, email, password) -> str:
    response = await client.post(
        "/api/users/login", json={"user": {"email": email, "password": password}}
    )
    assert response.status_code == 200
    return (await response.get_json())["user"]["token"]


def api_login(client, email, password, headers=None):
    return client.post(
        "/api/users/login",
        json={"user": {"email": email, "password": password}},
        headers=headers or {},
    )


async def test_account_page_has_the_password_form_and_a_way_home(client, users):
    alice = await users.make()
    await sign_in(client, alice.email, alice.password)
    response = await client.get("/account")
    html = await response.get_data(as_text=True)
    for needle in (
        'action="/account/password"',
        '<label for="current_password">',
        '<label for="new_password">',
        '<label for="new_password_again">',
        'autocomplete="current-password"',
        'autocomplete="new-password"',
        'action="/logout-all"',
        'href="/"',
    ):
        assert needle in html, needle
    assert html.count('name="csrf_token"') == 3  # sign out, password, sign out everywhere
    assert "<script" not in html
    assert "style=" not in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_changing_the_password_revokes_everything_else_and_keeps_this_browser(
    app, client, users
):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    before = session_cookie(client)
    elsewhere = app.test_client()  # another browser of the same account
    await sign_in(elsewhere, alice.email, alice.password)
    api = await api_token(client, alice.email, alice.password)

    response = await change(client, token, alice.password)
    assert response.status_code == 303, await response.get_data(as_text=True)
    assert response.headers["Location"] == "/account"
    assert cookie_header(response)  # a new session for this browser
    page = await client.get("/account")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert "Your password was changed." in html
    assert 'role="status"' in html
    new_token = CSRF_INPUT.search(html).group(1)
    assert new_token != token
    again = await (await client.get("/account")).get_data(as_text=True)
    assert "Your password was changed." not in again  # said once

    # The cookie as it was before the change, the other browser and the API token: all ended.
    stranger = app.test_client()
    replay = await stranger.get("/account", headers={"Cookie": before})
    assert replay.status_code == 303
    assert replay.headers["Location"] == "/login?next=/account"
    assert (await elsewhere.get("/account")).status_code == 303
    revoked = await client.get("/api/user", headers={"Authorization": f"Token {api}"})
    assert await error_of(revoked, 401) == {"token": ["is invalid"]}
    # The new password logs in, the old one no longer does; the old CSRF token is refused.
    assert (await api_login(stranger, alice.email, NEW)).status_code == 200
    await error_of(await api_login(stranger, alice.email, alice.password), 401)
    await error_of(await client.post("/logout", form={"csrf_token": token}), 403)
    assert (await client.post("/logout", form={"csrf_token": new_token})).status_code == 303


async def test_the_current_password_must_be_right(client, users):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    response = await change(client, token, "not the password")
    html = await response.get_data(as_text=True)
    assert response.status_code == 401
    assert field_error(html, "current_password") == "Current password is wrong."
    assert re.search(r'id="current_password"[^>]*aria-invalid="true"', html)
    assert "not the password" not in html  # never echoed
    assert NEW not in html
    assert (await client.get("/account")).status_code == 200  # still signed in
    assert (await api_login(client, alice.email, alice.password)).status_code == 200
    await error_of(await api_login(client, alice.email, NEW), 401)


@pytest.mark.parametrize(
    ("current", "new", "again", "name", "message"),
    [
        ("", NEW, NEW, "current_password", "Current password can't be blank."),
        (
            None,
            "short",
            "short",
            "new_password",
            "New password is too short (minimum is 8 characters).",
        ),
        (
            None,
            "y" * 257,
            "y" * 257,
            "new_password",
            "New password is too long (maximum is 256 characters).",
        ),
        (None, "", "", "new_password", "New password can't be blank."),
        (
            None,
            NEW,
            NEW + "!",
            "new_password_again",
            "New password again doesn't match the new password.",
        ),
        (None, NEW, "", "new_password_again", "New password again can't be blank."),
        (
            None,
            "nul\x00 password",
            "nul\x00 password",
            "new_password",
            "New password must not contain NUL characters.",
        ),
    ],
)
async def test_invalid_forms_change_nothing(client, users, current, new, again, name, message):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    response = await change(
        client, token, alice.password if current is None else current, new, again
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, name) == message
    assert re.search(rf'id="{name}"[^>]*autofocus', html)
    assert (await client.get("/account")).status_code == 200
    assert (await api_login(client, alice.email, alice.password)).status_code == 200


async def test_the_password_form_needs_its_csrf_token(client, users):
    alice = await users.make()
    await sign_in(client, alice.email, alice.password)
    missing = await client.post(
        "/account/password",
        form={"current_password": alice.password, "new_password": NEW, "new_password_again": NEW},
    )
    forged = await change(client, "forged", alice.password)
    for response in (missing, forged):
        assert response.status_code == 403
        assert "The form expired. Please try again." in await response.get_data(as_text=True)
    assert (await api_login(client, alice.email, alice.password)).status_code == 200
    assert (await client.get("/account")).status_code == 200


async def test_signed_out_browsers_get_the_sign_in_form(app, client, users):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    ended = app.test_client()
    ended_token = await sign_in(ended, alice.email, alice.password)
    assert (await client.post("/logout-all", form={"csrf_token": token})).status_code == 303
    never = app.test_client()
    answers = [
        await change(ended, ended_token, alice.password),  # its session ended elsewhere
        await change(never, "whatever", alice.password),  # never signed in
        await never.post("/account/password"),  # not even a form
    ]
    for response in answers:
        html = await response.get_data(as_text=True)
        assert response.status_code == 403
        assert "Your session ended. Please sign in again." in html
        assert 'action="/login"' in html
        assert 'name="next" value="/account"' in html
    assert (await api_login(client, alice.email, alice.password)).status_code == 200
    await error_of(await api_login(client, alice.email, NEW), 401)


async def test_wrong_current_passwords_count_as_failed_logins(app_with):
    app = await app_with(
        trusted_proxy_hops=1,
        login_rate_limit_per_account_address=2,
        login_rate_limit_per_address=100,
    )
    alice = await UserFactory(app).make(password="right-password")
    client = app.test_client()
    here = {"X-Forwarded-For": "203.0.113.40"}
    token = await sign_in(client, alice.email, alice.password)
    for _ in range(2):
        assert (await change(client, token, "a wrong guess", headers=here)).status_code == 401
    limited = await change(client, token, alice.password, headers=here)  # right, but too late
    html = await limited.get_data(as_text=True)
    assert limited.status_code == 429
    assert "Too many attempts. Try again in" in html
    assert int(limited.headers["Retry-After"]) >= 1
    # The login form and the API count on the same pair: one account, one address.
    await error_of(await api_login(client, alice.email, alice.password, here), 429)
    # The password is unchanged and the session still stands.
    assert (await client.get("/account")).status_code == 200
    other = {"X-Forwarded-For": "198.51.100.41"}
    assert (await api_login(client, alice.email, alice.password, other)).status_code == 200


async def test_changes_are_logged_without_passwords(app_with, capsys):
    app = await app_with()
    client = app.test_client()
    alice = await UserFactory(app).make()
    token = await sign_in(client, alice.email, alice.password)
    capsys.readouterr()
    await change(client, token, "wrong-guess-1234")
    assert (await change(client, token, alice.password)).status_code == 303
    logged = capsys.readouterr().err
    line = next(line for line in logged.splitlines() if "wrong current password" in line)
    assert f"user_id={alice.id}" in line
    assert "client=" in line
    for secret in ("wrong-guess-1234", alice.password, NEW):
        assert secret not in logged

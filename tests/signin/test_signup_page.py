"""The sign-up page: a plain form under the pages' CSP, its CSRF token, the API's field rules
with the errors shown in the form, the API's 409 and no more, the per-address registration
limit, and a server-side session on success."""

from __future__ import annotations

import asyncio
import html as markup
import re
import threading

import pytest

from tests.helpers import error_of
from tests.signin.helpers import CSRF_INPUT, cookie_header, login_form

GOOD = {"username": "newcomer", "email": "newcomer@example.com", "password": "a fine password"}


async def signup_token(client) -> str:
    return await login_form(client, "/signup")


async def submit_signup(client, *, token: str | None = None, headers=None, **fields):
    if token is None:
        token = await signup_token(client)
    form = {**GOOD, **fields, "csrf_token": token}
    return await client.post("/signup", form=form, headers=headers or {})


def api_login(client, email, password):
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


def field_error(html: str, name: str) -> str | None:
    match = re.search(rf'<span id="{name}-error" class="field-error">([^<]*)</span>', html)
    return markup.unescape(match.group(1)) if match else None


async def test_signup_page_is_a_plain_accessible_form(client):
    response = await client.get("/signup")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    html = await response.get_data(as_text=True)
    for needle in (
        '<label for="username">',
        '<label for="email">',
        '<label for="password">',
        'autocomplete="username"',
        'autocomplete="email"',
        'autocomplete="new-password"',
        'aria-describedby="password-hint"',
        'role="alert"',
        'name="csrf_token"',
        'action="/signup"',
        'href="/login"',
        "/static/style.css",
    ):
        assert needle in html, needle
    assert "<script" not in html
    assert "style=" not in html
    login = await client.get("/login")
    for header in ("Content-Security-Policy", "X-Frame-Options", "Cache-Control"):
        assert response.headers[header] == login.headers[header], header
    assert "httponly" in cookie_header(response).lower()


async def test_signing_up_starts_a_server_side_session(client):
    token = await signup_token(client)
    response = await submit_signup(client, token=token)
    assert response.status_code == 303, await response.get_data(as_text=True)
    assert response.headers["Location"] == "/account"
    assert "httponly" in cookie_header(response).lower()
    page = await client.get("/account")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'id="username">newcomer<' in html
    assert CSRF_INPUT.search(html).group(1) != token  # a fresh session, a fresh token
    # The account is real: the API logs it in with the same password.
    assert (await api_login(client, GOOD["email"], GOOD["password"])).status_code == 200
    # And the session is a row on the server: signing out ends it for a copy of the cookie too.
    copied = cookie_header(response).split(";")[0]
    csrf = CSRF_INPUT.search(html).group(1)
    assert (await client.post("/logout", form={"csrf_token": csrf})).status_code == 303
    stranger = client.app.test_client()
    replay = await stranger.get("/account", headers={"Cookie": copied})
    assert replay.status_code == 303


async def test_signup_needs_its_csrf_token(client):
    await signup_token(client)
    missing = await client.post("/signup", form=GOOD)
    forged = await submit_signup(client, token="forged")
    for response in (missing, forged):
        assert response.status_code == 403
        html = await response.get_data(as_text=True)
        assert "The form expired. Please try again." in html
        assert 'value="newcomer@example.com"' in html  # kept, so a retry is one click
        assert GOOD["password"] not in html
    await error_of(await api_login(client, GOOD["email"], GOOD["password"]), 401)
    assert (await client.get("/account")).status_code == 303


@pytest.mark.parametrize(
    ("fields", "name", "message"),
    [
        ({"password": "short"}, "password", "Password is too short (minimum is 8 characters)."),
        ({"password": "x" * 257}, "password", "Password is too long (maximum is 256 characters)."),
        ({"password": ""}, "password", "Password can't be blank."),
        ({"email": "not-an-email"}, "email", "Email is invalid."),
        ({"email": "jake@example.test"}, "email", "Email is invalid."),  # special-use domain
        ({"email": ""}, "email", "Email can't be blank."),
        (
            {"username": "two words"},
            "username",
            "Username can't contain whitespace, '/' or control characters.",
        ),
        (
            {"username": "a/b"},
            "username",
            "Username can't contain whitespace, '/' or control characters.",
        ),
        ({"username": "x" * 65}, "username", "Username is too long (maximum is 64 characters)."),
        ({"username": ""}, "username", "Username can't be blank."),
        (
            {"username": "\ufdfa" * 15},  # folds to more than its key column holds
            "username",
            "Username is too long (maximum is 256 characters once case-folded).",
        ),
        (
            {"password": "nul\x00in the password"},
            "password",
            "Password must not contain NUL characters.",
        ),
    ],
)
async def test_invalid_fields_are_shown_beside_them(client, fields, name, message):
    response = await submit_signup(client, **fields)
    html = await response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert "Please correct the fields marked below." in html
    assert field_error(html, name) == message
    assert f'id="{name}"' in html
    assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', html)
    assert re.search(rf'id="{name}"[^>]*aria-describedby="[^"]*{name}-error', html)
    others = {"username", "email", "password"} - {name}
    assert all(field_error(html, other) is None for other in others)
    assert (await client.get("/account")).status_code == 303  # nobody signed in


async def test_several_problems_at_once_and_values_kept_but_never_the_password(client):
    response = await submit_signup(client, username="fine-name", email="nope", password="short")
    html = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "email") == "Email is invalid."
    assert field_error(html, "password") == "Password is too short (minimum is 8 characters)."
    assert field_error(html, "username") is None
    assert 'value="fine-name"' in html
    assert 'value="nope"' in html
    assert 'value="short"' not in html
    assert re.search(r'id="email"[^>]*autofocus', html)  # the first field at fault


async def test_what_is_echoed_is_escaped(client):
    response = await submit_signup(client, email='"><b>x</b>@example.com', password="short")
    html = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<b>x</b>" not in html
    assert "&#34;&gt;&lt;b&gt;" in html or "&quot;&gt;&lt;b&gt;" in html


async def test_taken_names_say_what_the_api_says_and_no_more(client, users):
    jake = await users.make(username="Jake", email="jake@example.com")
    by_name = await submit_signup(client, username="JAKE", email="other@example.com")
    by_email = await submit_signup(client, username="someone", email="JAKE@example.com")
    api = await client.post(
        "/api/users",
        json={"user": {"username": "someone", "email": jake.email, "password": "a-password"}},
    )
    assert await error_of(api, 409) == {"email": ["has already been taken"]}
    for response, name in ((by_name, "username"), (by_email, "email")):
        html = await response.get_data(as_text=True)
        assert response.status_code == 409
        label = name.capitalize()
        assert field_error(html, name) == f"{label} has already been taken."
        other = "email" if name == "username" else "username"
        assert field_error(html, other) is None
        assert GOOD["password"] not in html
    assert (await client.get("/account")).status_code == 303


async def test_signup_shares_the_registration_limit_per_address(app_with):
    app = await app_with(trusted_proxy_hops=1, register_rate_limit_per_address=2)
    client = app.test_client()
    flood = {"X-Forwarded-For": "203.0.113.7"}
    first = await submit_signup(client, headers=flood, username="one", email="one@example.com")
    assert first.status_code == 303
    client = app.test_client()  # signed out again, same address
    taken = await submit_signup(client, headers=flood, username="one", email="one@example.com")
    assert taken.status_code == 409  # refused ones count too, as on the API
    limited = await submit_signup(client, headers=flood, username="two", email="two@example.com")
    html = await limited.get_data(as_text=True)
    assert limited.status_code == 429
    assert "Too many attempts. Try again in" in html
    assert 'value="two@example.com"' in html
    assert int(limited.headers["Retry-After"]) >= 1
    # The API counts on the same counter, and other addresses are not held.
    api = await client.post(
        "/api/users",
        json={"user": {"username": "three", "email": "three@example.com", "password": "x" * 10}},
        headers=flood,
    )
    await error_of(api, 429)
    elsewhere = await submit_signup(
        client, headers={"X-Forwarded-For": "198.51.100.3"}, username="two", email="two@ex.com"
    )
    assert elsewhere.status_code == 303


async def test_a_busy_hashing_queue_answers_the_form_with_503(app_with):
    app = await app_with(hash_threads=1, hash_queue_seconds=0.5)
    hasher = app.extensions["security"].hasher
    hasher._mean_seconds = 1.0
    release = threading.Event()
    blocker = asyncio.create_task(hasher._run(release.wait, 5))
    await asyncio.sleep(0.05)
    client = app.test_client()
    try:
        response = await submit_signup(client)
        html = await response.get_data(as_text=True)
        assert response.status_code == 503
        assert "The service is busy. Try again in" in html
        assert response.headers["Retry-After"] == "2"
    finally:
        release.set()
        await blocker
    assert (await submit_signup(client)).status_code == 303  # once free, the same form works

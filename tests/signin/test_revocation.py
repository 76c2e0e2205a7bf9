"""Tokens and sessions that die: a password change or "sign out everywhere" ends every token
and session issued before it, sign-out ends the session on the server (a copied cookie is
worthless after it), and renewal never goes past an absolute lifetime from the login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from tests.factories import UserFactory
from tests.helpers import error_of
from tests.signin.helpers import sign_in

INVALID = {"token": ["is invalid"]}


def api_login(client, email, password):
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


async def login_token(client, made) -> str:
    response = await api_login(client, made.email, made.password)
    assert response.status_code == 200
    return (await response.get_json())["user"]["token"]


def as_token(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def session_cookie(client) -> str:
    """The browser's session cookie, as someone who copied it would send it."""
    for cookie in client.cookie_jar:
        if cookie.name == "conduit_session":
            return f"conduit_session={cookie.value}"
    raise AssertionError("no session cookie")


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_password_change_revokes_every_earlier_token(client, users: UserFactory):
    alice = await users.make()
    second = await login_token(client, alice)
    for headers in (alice.headers, as_token(second)):  # both verified (and remembered) first
        assert (await client.get("/api/user", headers=headers)).status_code == 200
    changed = await client.put(
        "/api/user", headers=alice.headers, json={"user": {"password": "a new password!"}}
    )
    assert changed.status_code == 200
    fresh = (await changed.get_json())["user"]["token"]
    for headers in (alice.headers, as_token(second)):
        assert await error_of(await client.get("/api/user", headers=headers), 401) == INVALID
        response = await client.put("/api/user", headers=headers, json={"user": {"bio": "x"}})
        await error_of(response, 401)
    # The token handed back with the change, and a new login, work.
    assert (await client.get("/api/user", headers=as_token(fresh))).status_code == 200
    alice.password = "a new password!"
    assert (
        await client.get("/api/user", headers=as_token(await login_token(client, alice)))
    ).status_code == 200


async def test_an_admin_resetting_a_password_revokes_the_users_tokens(client, users: UserFactory):
    admin, bob = await users.admin(), await users.make()
    response = await client.post(
        f"/api/users/{bob.id}", headers=admin.headers, json={"user": {"password": "reset by admin"}}
    )
    assert response.status_code == 200
    assert await error_of(await client.get("/api/user", headers=bob.headers), 401) == INVALID
    assert (await client.get("/api/user", headers=admin.headers)).status_code == 200


async def test_other_changes_keep_tokens(client, users: UserFactory):
    alice = await users.make()
    response = await client.put("/api/user", headers=alice.headers, json={"user": {"bio": "hi"}})
    assert response.status_code == 200
    assert (await client.get("/api/user", headers=alice.headers)).status_code == 200


async def test_renewal_never_outlives_the_login(app_with, settings):
    app = await app_with(jwt_ttl_seconds=3600, token_max_age_seconds=600)
    client = app.test_client()
    alice = await UserFactory(app).make()
    first = await login_token(client, alice)
    login = claims(first)
    assert login["exp"] <= login["auth_time"] + 600
    renewed = await client.get("/api/user", headers=as_token(first))
    token = (await renewed.get_json())["user"]["token"]
    again = claims(token)
    assert again["auth_time"] == login["auth_time"]  # carried over, never reset
    assert again["exp"] <= login["auth_time"] + 600
    assert (await client.get("/api/user", headers=as_token(token))).status_code == 200

    # A token from a login longer ago than the absolute lifetime is refused even if its own
    # expiry is later (it was issued under a longer lifetime).
    now = datetime.now(UTC)
    old = jwt.encode(
        {
            "sub": str(alice.id),
            "iat": now - timedelta(seconds=60),
            "exp": now + timedelta(hours=1),
            "iss": "conduit-service",
            "auth_time": int((now - timedelta(seconds=700)).timestamp()),
            "ver": 0,
        },
        settings.secret_key.get_secret_value(),
        algorithm="HS256",
    )
    expired = {"token": ["has expired"]}
    assert await error_of(await client.get("/api/user", headers=as_token(old)), 401) == expired


async def test_sign_out_revokes_the_session_on_the_server(app, client, users, count_queries):
    alice = await users.make()
    csrf = await sign_in(client, alice.email, alice.password)
    copied = {"Cookie": session_cookie(client)}
    thief = app.test_client()
    count_queries.reset()
    assert (await thief.get("/api/user", headers=copied)).status_code == 200
    assert count_queries.count == 1  # the session and its user: one lookup
    response = await client.post("/logout", form={"csrf_token": csrf})
    assert response.status_code == 303
    assert await error_of(await thief.get("/api/user", headers=copied), 401)
    write = await thief.put(
        "/api/user", json={"user": {"bio": "stolen"}}, headers={**copied, "X-CSRF-Token": csrf}
    )
    await error_of(write, 401)
    assert (await thief.get("/account", headers=copied)).status_code == 303
    # Signing in again works, with a new session.
    await sign_in(client, alice.email, alice.password)
    assert (await client.get("/api/user")).status_code == 200


async def test_sign_out_everywhere_through_the_api(app, client, users):
    alice = await users.make()
    second = await login_token(client, alice)
    browser = app.test_client()
    await sign_in(browser, alice.email, alice.password)
    copied = {"Cookie": session_cookie(browser)}
    response = await client.post("/api/user/logout-all", headers=as_token(second))
    assert response.status_code == 204
    for headers in (alice.headers, as_token(second)):
        assert await error_of(await client.get("/api/user", headers=headers), 401) == INVALID
    assert (await browser.get("/account")).status_code == 303
    assert (await app.test_client().get("/api/user", headers=copied)).status_code == 401
    assert (
        await client.get("/api/user", headers=as_token(await login_token(client, alice)))
    ).status_code == 200
    await error_of(await client.post("/api/user/logout-all"), 401)


async def test_sign_out_everywhere_by_cookie_needs_csrf(client, users):
    alice = await users.make()
    csrf = await sign_in(client, alice.email, alice.password)
    await error_of(await client.post("/api/user/logout-all"), 403)
    assert (await client.get("/api/user", headers=alice.headers)).status_code == 200
    response = await client.post("/api/user/logout-all", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert (await client.get("/account")).status_code == 303
    await error_of(await client.get("/api/user", headers=alice.headers), 401)


async def test_account_page_has_a_sign_out_everywhere_button(client, users):
    alice = await users.make()
    csrf = await sign_in(client, alice.email, alice.password)
    page = await (await client.get("/account")).get_data(as_text=True)
    assert 'action="/logout-all"' in page
    response = await client.post("/logout-all", form={"csrf_token": "forged"})
    await error_of(response, 403)
    assert (await client.get("/api/user", headers=alice.headers)).status_code == 200
    response = await client.post("/logout-all", form={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert (await client.get("/account")).status_code == 303
    await error_of(await client.get("/api/user", headers=alice.headers), 401)


async def test_password_change_ends_a_copied_session(app, client, users):
    alice = await users.make()
    await sign_in(client, alice.email, alice.password)
    copied = {"Cookie": session_cookie(client)}
    changed = await client.put(
        "/api/user", json={"user": {"password": "another-password"}}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert (await app.test_client().get("/api/user", headers=copied)).status_code == 401

"""Refresh tokens through HTTP: login and registration hand out a pair, /api/users/refresh
rotates it, a spent refresh token presented again revokes its whole family, and each way of
revoking (logout, sign out everywhere, an admin's revoke-all, a password change) ends the
families it should. With LEGACY_TOKENS off, every token is a short access token."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
from sqlalchemy import func, select, update

from service.models import RefreshFamily, RefreshToken
from service.models.base import utcnow
from tests.factories import UserFactory
from tests.helpers import error_of
from tests.signin.helpers import sign_in

INVALID = {"refreshToken": ["is invalid"]}
REUSED = {
    "refreshToken": ["was already used; every token of its sign-in is revoked, sign in again"]
}
TOKEN_INVALID = {"token": ["is invalid"]}


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def as_token(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def login(client, made) -> dict[str, str]:
    """The user object a login answers: `token` and `refreshToken` among the rest."""
    response = await client.post(
        "/api/users/login", json={"user": {"email": made.email, "password": made.password}}
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    user: dict[str, str] = body["user"]
    return user


async def refresh(client, refresh_token: str):
    return await client.post("/api/users/refresh", json={"refreshToken": refresh_token})


async def refreshed(client, refresh_token: str) -> dict[str, str]:
    response = await refresh(client, refresh_token)
    body = await response.get_json()
    assert response.status_code == 200, body
    user: dict[str, str] = body["user"]
    return user


async def works(client, token: str) -> bool:
    response = await client.get("/api/user", headers=as_token(token))
    if response.status_code == 200:
        return True
    assert await error_of(response, 401) == TOKEN_INVALID
    return False


async def can_refresh(client, refresh_token: str) -> bool:
    response = await refresh(client, refresh_token)
    if response.status_code == 200:
        return True
    assert await error_of(response, 401) in (INVALID, REUSED)
    return False


async def test_login_and_registration_answer_a_pair(client, users, settings):
    response = await client.post(
        "/api/users",
        json={"user": {"username": "rita", "email": "rita@example.com", "password": "x" * 12}},
    )
    registered = (await response.get_json())["user"]
    assert response.status_code == 201
    assert registered["refreshToken"]
    alice = await users.make()
    user = await login(client, alice)
    assert set(user) == {"email", "token", "username", "bio", "image", "refreshToken"}
    # With LEGACY_TOKENS on (the default), `token` is the Conduit token it always was.
    token = claims(user["token"])
    assert token["exp"] - token["iat"] == settings.jwt_ttl_seconds
    assert "typ" not in token
    assert await works(client, user["token"])
    assert await works(client, registered["token"])
    assert await can_refresh(client, registered["refreshToken"])


async def test_refresh_rotates_the_pair(client, users, settings):
    alice = await users.make()
    first = await login(client, alice)
    second = await refreshed(client, first["refreshToken"])
    assert second["email"] == alice.email
    assert second["refreshToken"] != first["refreshToken"]
    # The new token is a short access token of the same login.
    access = claims(second["token"])
    assert access["typ"] == "access"
    assert access["exp"] - access["iat"] == settings.access_token_ttl_seconds
    assert access["fam"] == claims(first["token"])["fam"]
    assert access["auth_time"] == claims(first["token"])["auth_time"]
    assert await works(client, second["token"])
    # Renewing an access token (GET /api/user) gives another access token, never a long one.
    renewed = (await (await client.get("/api/user", headers=as_token(second["token"]))).get_json())[
        "user"
    ]["token"]
    assert claims(renewed)["typ"] == "access"
    assert claims(renewed)["exp"] - claims(renewed)["iat"] == settings.access_token_ttl_seconds
    # And the next refresh token works in its turn; the login's token still works too.
    third = await refreshed(client, second["refreshToken"])
    assert await works(client, third["token"])
    assert await works(client, first["token"])


async def test_a_spent_refresh_token_revokes_its_family(client, users):
    alice = await users.make()
    first = await login(client, alice)
    other = await login(client, alice)  # another sign-in: another family
    second = await refreshed(client, first["refreshToken"])
    renewed = (await (await client.get("/api/user", headers=as_token(second["token"]))).get_json())[
        "user"
    ]["token"]
    # The spent token comes back (a thief's copy, or the owner's): 401, and the family is over.
    assert await error_of(await refresh(client, first["refreshToken"]), 401) == REUSED
    assert await error_of(await refresh(client, second["refreshToken"]), 401) == INVALID
    for token in (first["token"], second["token"], renewed):
        assert not await works(client, token)
    # The same copy again: still refused, still nothing works.
    assert await error_of(await refresh(client, first["refreshToken"]), 401) == REUSED
    # The other sign-in is untouched.
    assert await works(client, other["token"])
    assert await can_refresh(client, other["refreshToken"])


async def test_concurrent_refreshes_with_one_token_exactly_one_wins(app, client, users):
    alice = await users.make()
    first = await login(client, alice)
    family = claims(first["token"])["fam"]
    answers = await asyncio.gather(
        *(
            app.test_client().post(
                "/api/users/refresh", json={"refreshToken": first["refreshToken"]}
            )
            for _ in range(6)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 401, 401, 401, 401, 401]
    for answer in answers:
        if answer.status_code == 401:
            assert await error_of(answer, 401) == REUSED
    # One rotation happened: the family holds the first token and exactly one more.
    async with app.extensions["db"].sessionmaker() as session:
        tokens = await session.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.family_id == family)
        )
        revoked_at = await session.scalar(
            select(RefreshFamily.revoked_at).where(RefreshFamily.id == family)
        )
    assert tokens == 2
    # The losers presented a token already spent: a reuse, so the family is revoked (the
    # winner's new pair included); a client refreshes with one token once.
    assert revoked_at is not None
    winner = next(answer for answer in answers if answer.status_code == 200)
    user = (await winner.get_json())["user"]
    assert not await works(client, user["token"])
    assert await error_of(await refresh(client, user["refreshToken"]), 401) == INVALID


async def test_logout_revokes_that_family_only(client, users):
    alice = await users.make()
    first, other = await login(client, alice), await login(client, alice)
    second = await refreshed(client, first["refreshToken"])
    response = await client.post("/api/users/logout", json={"refreshToken": second["refreshToken"]})
    assert response.status_code == 204
    for token in (first["token"], second["token"]):
        assert not await works(client, token)
    assert await error_of(await refresh(client, second["refreshToken"]), 401) == INVALID
    assert await works(client, other["token"])
    # Logging out again (with any token of the family) is still a 204.
    again = await client.post("/api/users/logout", json={"refreshToken": first["refreshToken"]})
    assert again.status_code == 204
    assert await can_refresh(client, other["refreshToken"])
    unknown = await client.post("/api/users/logout", json={"refreshToken": "not-a-token"})
    assert await error_of(unknown, 401) == INVALID


async def test_sign_out_everywhere_ends_every_family(app, client, users):
    alice = await users.make()
    first, other = await login(client, alice), await login(client, alice)
    second = await refreshed(client, first["refreshToken"])
    response = await client.post("/api/user/logout-all", headers=as_token(second["token"]))
    assert response.status_code == 204
    for pair in (second, other):
        assert not await works(client, pair["token"])
        assert await error_of(await refresh(client, pair["refreshToken"]), 401) == INVALID
    fresh = await login(client, alice)
    assert await can_refresh(client, fresh["refreshToken"])


async def test_an_admin_revokes_every_family_and_session_of_a_user(app, client, users):
    admin, alice, bob = await users.admin(), await users.make(), await users.make()
    first, other = await login(client, alice), await login(client, alice)
    browser = app.test_client()
    await sign_in(browser, alice.email, alice.password)
    bobs = await login(client, bob)
    # Only admins: 403 for anyone else (even on themself), 401 without credentials.
    for caller in (bob, alice):
        forbidden = await client.post(
            f"/api/users/{alice.id}/revoke-sessions", headers=caller.headers
        )
        assert await error_of(forbidden, 403) == {"user": ["forbidden"]}
    assert await error_of(await client.post(f"/api/users/{alice.id}/revoke-sessions"), 401)
    assert await works(client, first["token"])
    missing = await client.post("/api/users/999999/revoke-sessions", headers=admin.headers)
    assert await error_of(missing, 404) == {"user": ["not found"]}

    response = await client.post(f"/api/users/{alice.id}/revoke-sessions", headers=admin.headers)
    assert response.status_code == 204
    for pair in (first, other):
        assert not await works(client, pair["token"])
        assert await error_of(await refresh(client, pair["refreshToken"]), 401) == INVALID
    assert not await works(client, alice.token)
    assert (await browser.get("/account")).status_code == 303  # the browser is signed out
    # Bob and the admin keep theirs.
    assert await works(client, bobs["token"])
    assert await can_refresh(client, bobs["refreshToken"])
    assert await works(client, admin.token)


async def test_a_password_change_ends_every_family(client, users):
    alice, admin = await users.make(), await users.admin()
    first, other = await login(client, alice), await login(client, alice)
    changed = await client.put(
        "/api/user", headers=as_token(first["token"]), json={"user": {"password": "a new one!"}}
    )
    assert changed.status_code == 200
    for pair in (first, other):
        assert not await works(client, pair["token"])
        assert await error_of(await refresh(client, pair["refreshToken"]), 401) == INVALID
    # The token handed back with the change works: it belongs to no revoked family.
    fresh = (await changed.get_json())["user"]["token"]
    assert "fam" not in claims(fresh)
    assert await works(client, fresh)
    # An admin setting the password ends the families too.
    alice.password = "a new one!"
    pair = await login(client, alice)
    reset = await client.post(
        f"/api/users/{alice.id}", headers=admin.headers, json={"user": {"password": "from admin"}}
    )
    assert reset.status_code == 200
    assert await error_of(await refresh(client, pair["refreshToken"]), 401) == INVALID
    assert not await works(client, pair["token"])


async def test_an_expired_refresh_token_says_so(app, client, users):
    alice = await users.make()
    pair = await login(client, alice)
    async with app.extensions["db"].sessionmaker() as session:
        await session.execute(
            update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    response = await refresh(client, pair["refreshToken"])
    assert await error_of(response, 401) == {"refreshToken": ["has expired"]}
    assert await works(client, pair["token"])  # the token itself lives its own life


async def test_nothing_outlives_the_login(app_with):
    app = await app_with(
        token_max_age_seconds=600, refresh_token_ttl_seconds=3600, access_token_ttl_seconds=900
    )
    client = app.test_client()
    alice = await UserFactory(app).make()
    pair = await login(client, alice)
    auth_time = claims(pair["token"])["auth_time"]
    assert isinstance(auth_time, int)
    nxt = await refreshed(client, pair["refreshToken"])
    assert claims(nxt["token"])["exp"] <= auth_time + 600
    async with app.extensions["db"].sessionmaker() as session:
        expiries = (await session.scalars(select(RefreshToken.expires_at))).all()
    assert expiries
    for expires_at in expiries:
        assert expires_at.replace(tzinfo=None).timestamp() <= auth_time + 600 + 1


async def test_refresh_and_logout_take_a_refresh_token(client):
    for path in ("/api/users/refresh", "/api/users/logout"):
        for body in ({}, {"refreshToken": ""}, {"refreshToken": 5}, {"refreshToken": "x" * 300}):
            errors = await error_of(await client.post(path, json=body), 422)
            assert set(errors) == {"refreshToken"}, (path, body, errors)
        assert await error_of(await client.post(path, json={"refreshToken": "nope"}), 401) == (
            INVALID
        )


async def test_with_legacy_tokens_off_every_token_is_short(app_with):
    app = await app_with(legacy_tokens=False, access_token_ttl_seconds=120)
    client = app.test_client()
    alice = await UserFactory(app).make()  # it holds a Conduit token
    assert not await works(client, alice.token)
    pair = await login(client, alice)
    token = claims(pair["token"])
    assert token["typ"] == "access"
    assert token["exp"] - token["iat"] == 120
    assert await works(client, pair["token"])
    renewed = (await (await client.get("/api/user", headers=as_token(pair["token"]))).get_json())[
        "user"
    ]["token"]
    assert claims(renewed)["typ"] == "access"
    nxt = await refreshed(client, pair["refreshToken"])
    assert claims(nxt["token"])["exp"] - claims(nxt["token"])["iat"] == 120
    assert await works(client, nxt["token"])
    # A browser session's GET /api/user hands out an access token too.
    browser = app.test_client()
    await sign_in(browser, alice.email, alice.password)
    from_cookie = (await (await browser.get("/api/user")).get_json())["user"]["token"]
    assert claims(from_cookie)["typ"] == "access"
    assert await works(client, from_cookie)

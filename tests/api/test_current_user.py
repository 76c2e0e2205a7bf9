"""GET and PUT /api/user, and how every protected route treats credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.factories import UserFactory
from tests.helpers import error_of


async def test_get_current_user_with_token_and_bearer(client, users: UserFactory):
    made = await users.make(bio="hi", image="https://img.example/a.png")
    for scheme in ("Token", "Bearer", "token", "BEARER"):
        response = await client.get(
            "/api/user", headers={"Authorization": f"{scheme} {made.token}"}
        )
        assert response.status_code == 200, scheme
        user = (await response.get_json())["user"]
        assert user["username"] == made.username
        assert user["bio"] == "hi"
        assert user["image"] == "https://img.example/a.png"
        assert user["token"]


async def test_missing_token_is_401_is_missing(client):
    assert await error_of(await client.get("/api/user"), 401) == {"token": ["is missing"]}


def _forged(secret: str, **claims: object) -> str:
    now = datetime.now(UTC)
    base = {"sub": "1", "iat": now, "exp": now + timedelta(hours=1), "iss": "conduit-service"}
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token ",
        "Basic dXNlcjpwYXNz",
        "Token not-a-jwt",
        "Token a.b.c",
        "Tokenabc",
        "Token " + "x" * 5000,
    ],
)
async def test_malformed_credentials_are_401_is_invalid(client, header):
    response = await client.get("/api/user", headers={"Authorization": header})
    assert await error_of(response, 401) == {"token": ["is invalid"]}


async def test_forged_and_foreign_tokens_are_401(client, settings, users: UserFactory):
    made = await users.make()
    secret = settings.secret_key.get_secret_value()
    bad_tokens = [
        _forged("another secret that is long enough to sign", sub=str(made.id)),
        _forged(secret, sub=str(made.id), iss="someone-else"),
        _forged(secret, sub="not-a-number"),
        _forged(secret, sub=str(made.id), exp=None),
        jwt.encode({"sub": str(made.id)}, None, algorithm="none"),
    ]
    for token in bad_tokens:
        response = await client.get("/api/user", headers={"Authorization": f"Token {token}"})
        assert await error_of(response, 401) == {"token": ["is invalid"]}, token


async def test_token_of_deleted_user_is_401(client, app, users: UserFactory):
    made = await users.make()
    async with app.extensions["db"].sessionmaker() as session, session.begin():
        await session.delete(await session.get(type(made.user), made.id))
    response = await client.get("/api/user", headers=made.headers)
    assert await error_of(response, 401) == {"token": ["is invalid"]}


async def test_update_current_user_fields(client, users: UserFactory):
    made = await users.make()
    response = await client.put(
        "/api/user",
        headers=made.headers,
        json={"user": {"email": "New@Example.com", "bio": "I work", "image": "https://i/x.png"}},
    )
    assert response.status_code == 200
    user = (await response.get_json())["user"]
    assert user["email"] == "new@example.com"
    assert user["bio"] == "I work"
    assert user["image"] == "https://i/x.png"
    assert user["username"] == made.username
    again = await client.get("/api/user", headers=made.headers)
    assert (await again.get_json())["user"]["email"] == "new@example.com"


async def test_update_password_changes_login(client, users: UserFactory):
    made = await users.make()
    response = await client.put(
        "/api/user", headers=made.headers, json={"user": {"password": "a brand new secret"}}
    )
    assert response.status_code == 200
    old = await client.post(
        "/api/users/login", json={"user": {"email": made.email, "password": made.password}}
    )
    await error_of(old, 401)
    new = await client.post(
        "/api/users/login", json={"user": {"email": made.email, "password": "a brand new secret"}}
    )
    assert new.status_code == 200


async def test_update_null_clears_bio_but_not_email(client, users: UserFactory):
    made = await users.make(bio="something")
    response = await client.put("/api/user", headers=made.headers, json={"user": {"bio": None}})
    assert (await response.get_json())["user"]["bio"] is None
    response = await client.put("/api/user", headers=made.headers, json={"user": {"email": None}})
    assert await error_of(response, 422) == {"email": ["can't be blank"]}


async def test_update_empty_changes_nothing(client, users: UserFactory):
    made = await users.make(bio="keep")
    response = await client.put("/api/user", headers=made.headers, json={"user": {}})
    assert response.status_code == 200
    assert (await response.get_json())["user"]["bio"] == "keep"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"email": "nope"}, "email"),
        ({"username": ""}, "username"),
        ({"username": "has space"}, "username"),
        ({"password": "short"}, "password"),
        ({"bio": "b" * 10_001}, "bio"),
        ({"image": "i" * 2049}, "image"),
        ({"bio": 5}, "bio"),
    ],
)
async def test_update_invalid_is_422_and_changes_nothing(client, users: UserFactory, changes, key):
    made = await users.make(bio="before")
    payload = {"user": {"bio": "after", **changes}}
    errors = await error_of(await client.put("/api/user", headers=made.headers, json=payload), 422)
    assert key in errors
    current = await client.get("/api/user", headers=made.headers)
    assert (await current.get_json())["user"]["bio"] == "before"


@pytest.mark.parametrize("field", ["email", "username"])
async def test_update_to_taken_value_is_409_and_keeps_data(client, users: UserFactory, field):
    first = await users.make()
    second = await users.make(bio="mine")
    taken = getattr(first, field).upper()
    response = await client.put(
        "/api/user", headers=second.headers, json={"user": {field: taken, "bio": "changed"}}
    )
    assert await error_of(response, 409) == {field: ["has already been taken"]}
    current = (await (await client.get("/api/user", headers=second.headers)).get_json())["user"]
    assert current[field] == getattr(second, field)
    assert current["bio"] == "mine"


async def test_update_own_username_case_is_allowed(client, users: UserFactory):
    made = await users.make(username="casey")
    response = await client.put(
        "/api/user", headers=made.headers, json={"user": {"username": "Casey"}}
    )
    assert response.status_code == 200
    assert (await response.get_json())["user"]["username"] == "Casey"


async def test_update_requires_token(client):
    await error_of(await client.put("/api/user", json={"user": {"bio": "x"}}), 401)


async def test_auth_is_checked_before_body(client):
    # 401 before 422: an anonymous caller learns nothing about the body's shape.
    response = await client.put("/api/user", json={"user": {"email": "bad"}})
    await error_of(response, 401)


async def test_role_cannot_be_set_through_current_user(client, users: UserFactory):
    made = await users.make()
    response = await client.put("/api/user", headers=made.headers, json={"user": {"role": "admin"}})
    assert response.status_code == 200  # unknown field on this route: ignored
    listing = await client.get("/api/users", headers=made.headers)
    await error_of(listing, 403)

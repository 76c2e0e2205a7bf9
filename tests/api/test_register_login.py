"""Conduit's register and login: POST /api/users and POST /api/users/login."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from tests.factories import UserFactory
from tests.helpers import error_of, raw_post

NEW = {"username": "Jacob", "email": "Jake@Example.COM", "password": "jakejakejake"}


async def register(client, **overrides):  # type: ignore[no-untyped-def]
    return await client.post("/api/users", json={"user": {**NEW, **overrides}})


async def test_register_returns_user_with_token(client):
    response = await register(client)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = await response.get_json()
    user = body["user"]
    # Conduit's user, plus the refresh token (an extra key Conduit clients ignore).
    assert set(user) == {"email", "token", "username", "bio", "image", "refreshToken"}
    assert user["email"] == "jake@example.com"  # normalised to lower case
    assert user["username"] == "Jacob"  # kept as typed
    assert user["bio"] is None
    assert user["image"] is None
    me = await client.get("/api/user", headers={"Authorization": f"Token {user['token']}"})
    assert me.status_code == 200
    assert (await me.get_json())["user"]["email"] == "jake@example.com"


async def test_register_never_returns_or_stores_plain_password(client, app):
    await register(client)
    database = app.extensions["db"]
    async with database.engine.connect() as conn:
        from sqlalchemy import text

        stored = (await conn.execute(text("SELECT password_hash FROM users"))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert NEW["password"] not in stored


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "JACOB"), ("username", "jacob"), ("email", "JAKE@example.com")],
)
async def test_register_duplicate_in_any_case_is_409(client, field, value):
    assert (await register(client)).status_code == 201
    other = {"username": "someone", "email": "someone@example.com", field: value}
    errors = await error_of(await register(client, **other), 409)
    assert errors == {field: ["has already been taken"]}


async def test_register_duplicate_after_conflict_keeps_first_user(client):
    await register(client)
    await register(client, email="other@example.com")  # username taken
    login = await client.post(
        "/api/users/login", json={"user": {"email": NEW["email"], "password": NEW["password"]}}
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"username": ""}, "username", "can't be blank"),
        ({"username": "a" * 65}, "username", "is too long (maximum is 64 characters)"),
        ({"username": "two words"}, "username", None),
        ({"username": "a/b"}, "username", None),
        ({"username": "tab\there"}, "username", None),
        ({"email": "not-an-email"}, "email", "is invalid"),
        ({"email": "a@b"}, "email", "is invalid"),
        ({"email": ("x" * 250) + "@example.com"}, "email", None),
        ({"password": "short"}, "password", "is too short (minimum is 8 characters)"),
        ({"password": "p" * 257}, "password", "is too long (maximum is 256 characters)"),
        ({"password": 12345678}, "password", "must be a string"),
        ({"username": None}, "username", "must be a string"),
        ({"email": ["a@example.com"]}, "email", None),
    ],
)
async def test_register_invalid_fields_are_422(client, overrides, key, message):
    errors = await error_of(await register(client, **overrides), 422)
    assert key in errors
    if message:
        assert message in errors[key]


async def test_register_missing_fields_are_named(client):
    response = await client.post("/api/users", json={"user": {}})
    errors = await error_of(response, 422)
    assert errors == {
        "username": ["can't be blank"],
        "email": ["can't be blank"],
        "password": ["can't be blank"],
    }


@pytest.mark.parametrize("body", [{}, {"user": None}, {"user": "x"}, [], "user", 42])
async def test_register_wrong_envelope_is_422(client, body):
    errors = await error_of(await client.post("/api/users", json=body), 422)
    assert errors


async def test_register_ignores_unknown_fields(client, app):
    response = await register(client, role="admin", id=999, passwordHash="x")
    assert response.status_code == 201
    token = (await response.get_json())["user"]["token"]
    # Not an admin: the users list stays closed.
    listing = await client.get("/api/users", headers={"Authorization": f"Token {token}"})
    await error_of(listing, 403)


async def test_malformed_json_is_422(client):
    response = await raw_post(client, "/api/users", b'{"user": {"username": ')
    assert await error_of(response, 422) == {"body": ["is not valid JSON"]}


async def test_lone_surrogate_is_422(client):
    body = b'{"user": {"username": "\\ud800", "email": "a@example.com", "password": "12345678"}}'
    await error_of(await raw_post(client, "/api/users", body), 422)


async def test_nul_character_is_422(client):
    body = b'{"user": {"username": "a\\u0000b", "email": "a@example.com", "password": "12345678"}}'
    errors = await error_of(await raw_post(client, "/api/users", body), 422)
    assert errors == {"username": ["must not contain NUL characters"]}


async def test_deep_json_is_422(client):
    body = b'{"user": ' + b"[" * 100 + b"]" * 100 + b"}"
    errors = await error_of(await raw_post(client, "/api/users", body), 422)
    assert "body" in errors


async def test_not_json_is_415(client):
    response = await raw_post(
        client, "/api/users", b"username=jake", "application/x-www-form-urlencoded"
    )
    await error_of(response, 415)
    response = await raw_post(client, "/api/users", b"", "text/plain")
    await error_of(response, 415)


async def test_huge_body_is_413(client, settings):
    big = b'{"user": {"username": "' + b"a" * (settings.max_body_bytes + 10) + b'"}}'
    await error_of(await raw_post(client, "/api/users", big), 413)


async def test_wrong_method_is_405_json(client):
    response = await client.delete("/api/users")
    await error_of(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_unknown_api_path_is_404_json(client):
    errors = await error_of(await client.get("/api/nothing-here"), 404)
    assert errors == {"path": ["not found"]}


# Login


async def test_login_returns_token_for_any_email_case(client, users: UserFactory):
    made = await users.make(email="mixed@example.com")
    response = await client.post(
        "/api/users/login",
        json={"user": {"email": " MIXED@Example.com ", "password": made.password}},
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["user"]["username"] == made.username
    claims = jwt.decode(body["user"]["token"], options={"verify_signature": False})
    assert claims["sub"] == str(made.id)
    assert claims["exp"] > claims["iat"]


async def test_login_failures_are_one_401_message(client, users: UserFactory):
    made = await users.make()
    wrong_password = await client.post(
        "/api/users/login", json={"user": {"email": made.email, "password": "wrong password"}}
    )
    unknown_email = await client.post(
        "/api/users/login", json={"user": {"email": "nobody@example.com", "password": "whatever1"}}
    )
    first = await error_of(wrong_password, 401)
    second = await error_of(unknown_email, 401)
    assert first == second == {"credentials": ["invalid email or password"]}


@pytest.mark.parametrize(
    "body",
    [{"user": {"email": "a@example.com"}}, {"user": {"password": "x"}}, {"user": {}}, {}],
)
async def test_login_missing_fields_are_422(client, body):
    await error_of(await client.post("/api/users/login", json=body), 422)


async def test_concurrent_registration_of_one_name_creates_one_user(client):
    responses = await asyncio.gather(
        *(register(client, email=f"jake{i}@example.com") for i in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7

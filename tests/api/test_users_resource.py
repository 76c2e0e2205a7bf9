"""The users resource: GET /api/users, GET/POST/PATCH /api/users/<id>, with the full
authorization matrix (anonymous, other user, self, admin)."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.helpers import error_of

ACCOUNT_KEYS = {"id", "email", "username", "bio", "image", "role", "createdAt", "updatedAt"}


async def test_admin_lists_users_paginated(client, users: UserFactory):
    admin = await users.admin(username="root")
    made = [await users.make(username=f"member{i}") for i in range(5)]
    response = await client.get("/api/users?limit=2&offset=1", headers=admin.headers)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["usersCount"] == 6
    assert [u["username"] for u in body["users"]] == [made[0].username, made[1].username]
    for user in body["users"]:
        assert set(user) == ACCOUNT_KEYS  # no token, no hash
        assert user["createdAt"].endswith("Z")
        assert len(user["createdAt"]) == len("2026-02-18T03:22:56.637Z")


async def test_admin_list_defaults_and_offset_past_end(client, users: UserFactory):
    admin = await users.admin()
    body = await (await client.get("/api/users", headers=admin.headers)).get_json()
    assert body["usersCount"] == 1
    assert len(body["users"]) == 1
    past = await (await client.get("/api/users?offset=50", headers=admin.headers)).get_json()
    assert past == {"users": [], "usersCount": 1}


async def test_admin_search_by_prefix_of_username_or_email(client, users: UserFactory):
    admin = await users.admin(username="boss", email="boss@corp.example")
    await users.make(username="Alice", email="a1@example.com")
    await users.make(username="alfred", email="fred@example.com")
    await users.make(username="bob", email="alpha@example.com")
    await users.make(username="zed_%", email="zed@example.com")

    async def names(q: str) -> list[str]:
        response = await client.get("/api/users", query_string={"q": q}, headers=admin.headers)
        body = await response.get_json()
        assert body["usersCount"] == len(body["users"])
        return sorted(u["username"] for u in body["users"])

    assert await names("AL") == ["Alice", "alfred", "bob"]
    assert await names("boss@") == ["boss"]
    assert await names("zed_") == ["zed_%"]
    assert await names("%") == []  # wildcards are literal
    assert await names("nobody") == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "offset=x",
        "limit=1.5",
        "q=",
        "limit=1&limit=2",
    ],
)
async def test_admin_list_bad_query_is_422(client, users: UserFactory, query):
    admin = await users.admin()
    response = await client.get(f"/api/users?{query}", headers=admin.headers)
    errors = await error_of(response, 422)
    assert set(errors) <= {"limit", "offset", "q"}


async def test_list_users_authorization(client, users: UserFactory):
    member = await users.make()
    await error_of(await client.get("/api/users"), 401)
    assert await error_of(await client.get("/api/users", headers=member.headers), 403) == {
        "user": ["forbidden"]
    }


async def test_get_user_matrix(client, users: UserFactory):
    admin = await users.admin()
    alice = await users.make()
    bob = await users.make()
    path = f"/api/users/{alice.id}"
    await error_of(await client.get(path), 401)
    await error_of(await client.get(path, headers=bob.headers), 403)
    own = await client.get(path, headers=alice.headers)
    assert own.status_code == 200
    assert (await own.get_json())["user"]["email"] == alice.email
    by_admin = await client.get(path, headers=admin.headers)
    body = (await by_admin.get_json())["user"]
    assert set(body) == ACCOUNT_KEYS
    assert body["role"] == "user"


async def test_get_unknown_user(client, users: UserFactory):
    admin = await users.admin()
    member = await users.make()
    assert await error_of(await client.get("/api/users/999999", headers=admin.headers), 404) == {
        "user": ["not found"]
    }
    # Members cannot probe which ids exist: 403 whether or not the id is taken.
    await error_of(await client.get("/api/users/999999", headers=member.headers), 403)


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", "99999999999999999999", "2147483648"])
async def test_non_integer_or_out_of_range_ids_are_404(client, users: UserFactory, bad_id):
    admin = await users.admin()
    await error_of(await client.get(f"/api/users/{bad_id}", headers=admin.headers), 404)
    response = await client.patch(
        f"/api/users/{bad_id}", headers=admin.headers, json={"user": {"bio": "x"}}
    )
    await error_of(response, 404)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_update_user_matrix(client, users: UserFactory, method):
    admin = await users.admin()
    alice = await users.make()
    bob = await users.make()
    path = f"/api/users/{alice.id}"

    async def send(headers: dict[str, str] | None, bio: str):  # type: ignore[no-untyped-def]
        return await client.open(path, method=method, headers=headers, json={"user": {"bio": bio}})

    await error_of(await send(None, "anon"), 401)
    assert await error_of(await send(bob.headers, "bob"), 403) == {"user": ["forbidden"]}
    own = await send(alice.headers, "self")
    assert (await own.get_json())["user"]["bio"] == "self"
    by_admin = await send(admin.headers, "admin")
    assert (await by_admin.get_json())["user"]["bio"] == "admin"
    stored = await client.get(path, headers=alice.headers)
    assert (await stored.get_json())["user"]["bio"] == "admin"


async def test_update_user_lowercases_email(client, users: UserFactory):
    admin = await users.admin()
    alice = await users.make()
    response = await client.patch(
        f"/api/users/{alice.id}",
        headers=admin.headers,
        json={"user": {"email": "ALICE@New.Example"}},
    )
    assert (await response.get_json())["user"]["email"] == "alice@new.example"


async def test_only_admin_changes_role(client, users: UserFactory):
    admin = await users.admin()
    alice = await users.make()
    own = await client.patch(
        f"/api/users/{alice.id}", headers=alice.headers, json={"user": {"role": "admin"}}
    )
    assert await error_of(own, 403) == {"user": ["forbidden"]}
    promoted = await client.patch(
        f"/api/users/{alice.id}", headers=admin.headers, json={"user": {"role": "admin"}}
    )
    assert (await promoted.get_json())["user"]["role"] == "admin"
    # The promotion takes effect at once: alice may now list users.
    assert (await client.get("/api/users", headers=alice.headers)).status_code == 200
    bad = await client.patch(
        f"/api/users/{alice.id}", headers=admin.headers, json={"user": {"role": "superuser"}}
    )
    assert "role" in await error_of(bad, 422)
    null = await client.patch(
        f"/api/users/{alice.id}", headers=admin.headers, json={"user": {"role": None}}
    )
    assert await error_of(null, 422) == {"role": ["can't be blank"]}


@pytest.mark.parametrize("field", ["email", "username"])
async def test_update_user_conflict_in_any_case_is_409(client, users: UserFactory, field):
    admin = await users.admin()
    alice = await users.make()
    bob = await users.make()
    response = await client.patch(
        f"/api/users/{bob.id}",
        headers=admin.headers,
        json={"user": {field: getattr(alice, field).upper()}},
    )
    assert await error_of(response, 409) == {field: ["has already been taken"]}


async def test_admin_updates_unknown_user_is_404(client, users: UserFactory):
    admin = await users.admin()
    response = await client.patch(
        "/api/users/424242", headers=admin.headers, json={"user": {"bio": "x"}}
    )
    assert await error_of(response, 404) == {"user": ["not found"]}


async def test_update_user_bad_bodies(client, users: UserFactory):
    alice = await users.make()
    path = f"/api/users/{alice.id}"
    await error_of(await client.patch(path, headers=alice.headers, json={"bio": "x"}), 422)
    await error_of(
        await client.patch(path, headers=alice.headers, json={"user": {"password": "short"}}), 422
    )
    await error_of(
        await client.patch(path, headers=alice.headers, data="bio=x"),  # no JSON content type
        415,
    )

"""Profiles and follows: GET /api/profiles/:username, POST/DELETE .../follow."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from service.models import Follow
from tests.helpers import error_of


async def test_profile_anonymous_shows_following_false(client, users):
    alice = await users.make(username="Alice", bio="I write", image="https://img/a.png")
    response = await client.get("/api/profiles/Alice")
    assert response.status_code == 200
    assert await response.get_json() == {
        "profile": {
            "username": "Alice",
            "bio": "I write",
            "image": "https://img/a.png",
            "following": False,
        }
    }
    assert alice.username == "Alice"


async def test_profile_lookup_ignores_case(client, users):
    await users.make(username="Alice")
    body = await (await client.get("/api/profiles/aLiCe")).get_json()
    assert body["profile"]["username"] == "Alice"


async def test_unknown_profile_is_404(client):
    assert await error_of(await client.get("/api/profiles/nobody"), 404) == {
        "profile": ["not found"]
    }


async def test_invalid_token_on_optional_auth_is_401(client, users):
    await users.make(username="alice")
    response = await client.get("/api/profiles/alice", headers={"Authorization": "Token not.a.jwt"})
    assert await error_of(response, 401) == {"token": ["is invalid"]}


async def test_follow_and_unfollow_are_idempotent(client, users):
    alice, bob = await users.make(), await users.make()
    path = f"/api/profiles/{alice.username}/follow"
    for _ in range(2):
        response = await client.post(path, headers=bob.headers, json={"ignored": True})
        assert response.status_code == 200
        assert (await response.get_json())["profile"]["following"] is True
    seen = await client.get(f"/api/profiles/{alice.username}", headers=bob.headers)
    assert (await seen.get_json())["profile"]["following"] is True
    for _ in range(2):
        response = await client.delete(path, headers=bob.headers)
        assert response.status_code == 200
        assert (await response.get_json())["profile"]["following"] is False
    seen = await client.get(f"/api/profiles/{alice.username}", headers=bob.headers)
    assert (await seen.get_json())["profile"]["following"] is False


async def test_following_is_per_caller(client, users):
    alice, bob, carol = await users.make(), await users.make(), await users.make()
    await client.post(f"/api/profiles/{alice.username}/follow", headers=bob.headers)
    seen = await client.get(f"/api/profiles/{alice.username}", headers=carol.headers)
    assert (await seen.get_json())["profile"]["following"] is False


async def test_follow_needs_a_token(client, users):
    alice = await users.make()
    for method in ("POST", "DELETE"):
        response = await client.open(f"/api/profiles/{alice.username}/follow", method=method)
        assert await error_of(response, 401) == {"token": ["is missing"]}


async def test_follow_unknown_user_is_404(client, users):
    bob = await users.make()
    for method in ("POST", "DELETE"):
        response = await client.open(
            "/api/profiles/nobody/follow", method=method, headers=bob.headers
        )
        assert await error_of(response, 404) == {"profile": ["not found"]}


async def test_nobody_follows_themself(client, users):
    bob = await users.make()
    response = await client.post(f"/api/profiles/{bob.username}/follow", headers=bob.headers)
    assert (await error_of(response, 422)).keys() == {"profile"}
    response = await client.delete(f"/api/profiles/{bob.username}/follow", headers=bob.headers)
    assert (await error_of(response, 422)).keys() == {"profile"}


async def test_concurrent_follows_leave_one_row(app, client, users):
    alice, bob = await users.make(), await users.make()
    path = f"/api/profiles/{alice.username}/follow"
    responses = await asyncio.gather(*(client.post(path, headers=bob.headers) for _ in range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    async with app.extensions["db"].sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).select_from(Follow).where(Follow.follower_id == bob.id)
        )
    assert rows == 1

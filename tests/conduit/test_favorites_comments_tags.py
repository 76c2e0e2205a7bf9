"""Favourites, comments and tags."""

from __future__ import annotations

import asyncio

from tests.helpers import error_of


async def test_favorite_and_unfavorite_are_idempotent(client, users, articles):
    alice, bob = await users.make(), await users.make()
    article = await articles.make(alice, title="Liked")
    path = "/api/articles/liked/favorite"
    for _ in range(2):
        body = await (await client.post(path, headers=bob.headers)).get_json()
        assert body["article"]["favorited"] is True
        assert body["article"]["favoritesCount"] == 1
    assert body["article"]["updatedAt"] == article["updatedAt"]  # not an edit
    await client.post(path, headers=alice.headers)
    for _ in range(2):
        response = await client.delete(path, headers=bob.headers)
        assert response.status_code == 200
        body = await response.get_json()
        assert body["article"]["favorited"] is False
        assert body["article"]["favoritesCount"] == 1


async def test_favorite_errors(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Liked")
    for method in ("POST", "DELETE"):
        response = await client.open("/api/articles/liked/favorite", method=method)
        assert await error_of(response, 401) == {"token": ["is missing"]}
        response = await client.open(
            "/api/articles/nope/favorite", method=method, headers=alice.headers
        )
        assert await error_of(response, 404) == {"article": ["not found"]}


async def test_concurrent_favorites_count_exactly(client, users, articles):
    alice = await users.make()
    fans = [await users.make() for _ in range(4)]
    await articles.make(alice, title="Popular")
    path = "/api/articles/popular/favorite"
    # Every fan favourites three times at once: one row each, an exact count.
    await asyncio.gather(*(client.post(path, headers=f.headers) for f in fans for _ in range(3)))
    body = await (await client.get("/api/articles/popular")).get_json()
    assert body["article"]["favoritesCount"] == 4
    await asyncio.gather(*(client.delete(path, headers=f.headers) for f in fans for _ in range(3)))
    body = await (await client.get("/api/articles/popular")).get_json()
    assert body["article"]["favoritesCount"] == 0


async def test_comments_add_list_delete(client, users, articles):
    alice, bob = await users.make(username="alice"), await users.make(username="bob")
    await articles.make(alice, title="Talk")
    response = await client.post(
        "/api/articles/talk/comments", json={"comment": {"body": "First"}}, headers=bob.headers
    )
    assert response.status_code == 201
    first = (await response.get_json())["comment"]
    assert first["body"] == "First"
    assert isinstance(first["id"], int)
    assert first["author"] == {"username": "bob", "bio": None, "image": None, "following": False}
    assert set(first) == {"id", "createdAt", "updatedAt", "body", "author"}
    second = await client.post(
        "/api/articles/talk/comments",
        json={"comment": {"body": "Second"}},
        headers=alice.headers,
    )
    second_id = (await second.get_json())["comment"]["id"]
    listing = await (await client.get("/api/articles/talk/comments")).get_json()
    assert [c["body"] for c in listing["comments"]] == ["Second", "First"]
    await client.post("/api/profiles/bob/follow", headers=alice.headers)
    mine = await (await client.get("/api/articles/talk/comments", headers=alice.headers)).get_json()
    assert {c["author"]["username"]: c["author"]["following"] for c in mine["comments"]} == {
        "bob": True,
        "alice": False,
    }
    # Only the comment's author deletes it.
    response = await client.delete(f"/api/articles/talk/comments/{second_id}", headers=bob.headers)
    assert await error_of(response, 403) == {"comment": ["forbidden"]}
    response = await client.delete(
        f"/api/articles/talk/comments/{second_id}", headers=alice.headers
    )
    assert response.status_code == 204
    assert await response.get_data() == b""
    listing = await (await client.get("/api/articles/talk/comments")).get_json()
    assert [c["body"] for c in listing["comments"]] == ["First"]


async def test_comment_errors(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Talk")
    await articles.make(alice, title="Other")
    made = await client.post(
        "/api/articles/talk/comments", json={"comment": {"body": "x"}}, headers=alice.headers
    )
    comment_id = (await made.get_json())["comment"]["id"]
    assert await error_of(await client.get("/api/articles/nope/comments"), 404) == {
        "article": ["not found"]
    }
    response = await client.post("/api/articles/talk/comments", json={"comment": {"body": "x"}})
    assert await error_of(response, 401) == {"token": ["is missing"]}
    for payload in ({"comment": {"body": ""}}, {"comment": {}}, {"comment": "x"}, {}):
        response = await client.post(
            "/api/articles/talk/comments", json=payload, headers=alice.headers
        )
        await error_of(response, 422)
    response = await client.post(
        "/api/articles/nope/comments", json={"comment": {"body": "x"}}, headers=alice.headers
    )
    assert await error_of(response, 404) == {"article": ["not found"]}
    for path in (
        "/api/articles/talk/comments/999999",
        "/api/articles/talk/comments/99999999999999",
        f"/api/articles/other/comments/{comment_id}",  # exists, but under another article
    ):
        response = await client.delete(path, headers=alice.headers)
        assert await error_of(response, 404) == {"comment": ["not found"]}, path
    response = await client.delete(f"/api/articles/talk/comments/{comment_id}")
    assert await error_of(response, 401) == {"token": ["is missing"]}
    response = await client.delete("/api/articles/talk/comments/abc", headers=alice.headers)
    await error_of(response, 404)


async def test_tags_in_use_most_used_first(client, users, articles):
    alice = await users.make()
    assert await (await client.get("/api/tags")).get_json() == {"tags": []}
    await articles.make(alice, tags=["rare", "common"])
    await articles.make(alice, tags=["common", "mid"])
    await articles.make(alice, tags=["common", "mid"])
    body = await (await client.get("/api/tags")).get_json()
    assert body == {"tags": ["common", "mid", "rare"]}
    # Ties by name; a tag no article carries any more is not listed.
    await client.put(
        "/api/articles/" + (await articles.make(alice, tags=["zz"]))["slug"],
        json={"article": {"tagList": []}},
        headers=alice.headers,
    )
    body = await (await client.get("/api/tags")).get_json()
    assert body == {"tags": ["common", "mid", "rare"]}

"""One article: create, read, update, delete; validation and ownership."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from service.models import ArticleTag, Comment, Favorite
from tests.helpers import error_of, raw_post

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def new(**fields):
    article = {
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "tagList": ["dragons", "training"],
    }
    article.update(fields)
    return {"article": article}


async def test_create_returns_the_article(client, users):
    alice = await users.make(username="alice")
    response = await client.post(
        "/api/articles",
        json=new(tagList=["training", " dragons ", "dragons"]),
        headers=alice.headers,
    )
    assert response.status_code == 201
    article = (await response.get_json())["article"]
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["title"] == "How to train your dragon"
    assert article["description"] == "Ever wonder how?"
    assert article["body"] == "You have to believe"
    assert article["tagList"] == ["dragons", "training"]  # trimmed, once each, sorted
    assert TIMESTAMP.match(article["createdAt"])
    assert TIMESTAMP.match(article["updatedAt"])
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["author"] == {
        "username": "alice",
        "bio": None,
        "image": None,
        "following": False,
    }


async def test_get_article_anonymous_and_personal(client, users, articles):
    alice, bob = await users.make(), await users.make()
    slug = (await articles.make(alice, title="Readable"))["slug"]
    anonymous = (await (await client.get(f"/api/articles/{slug}")).get_json())["article"]
    assert anonymous["body"] == "Body text"
    assert anonymous["favorited"] is False
    assert anonymous["author"]["following"] is False
    await client.post(f"/api/profiles/{alice.username}/follow", headers=bob.headers)
    await client.post(f"/api/articles/{slug}/favorite", headers=bob.headers)
    mine = await client.get(f"/api/articles/{slug}", headers=bob.headers)
    article = (await mine.get_json())["article"]
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1
    assert article["author"]["following"] is True


async def test_get_article_carries_its_tags_sorted_or_an_empty_list(client, users, articles):
    alice = await users.make()
    plain = (await articles.make(alice, title="No tags"))["slug"]
    got = (await (await client.get(f"/api/articles/{plain}")).get_json())["article"]
    assert got["tagList"] == []
    odd = ["zeta", 'say "hi"', "b,c", "Ärger", "[json]", "alpha"]
    response = await client.post(
        "/api/articles", json=new(title="Odd tags", tagList=odd), headers=alice.headers
    )
    slug = (await response.get_json())["article"]["slug"]
    for headers in ({}, alice.headers):
        got = await (await client.get(f"/api/articles/{slug}", headers=headers)).get_json()
        assert got["article"]["tagList"] == sorted(odd)


async def test_unknown_article_is_404(client, users):
    bob = await users.make()
    assert await error_of(await client.get("/api/articles/nope"), 404) == {"article": ["not found"]}
    for method in ("PUT", "DELETE"):
        response = await client.open(
            "/api/articles/nope", method=method, headers=bob.headers, json=new()
        )
        assert await error_of(response, 404) == {"article": ["not found"]}


async def test_create_needs_a_valid_token(client):
    assert await error_of(await client.post("/api/articles", json=new()), 401) == {
        "token": ["is missing"]
    }
    response = await client.post(
        "/api/articles", json=new(), headers={"Authorization": "Token nope"}
    )
    assert await error_of(response, 401) == {"token": ["is invalid"]}


async def test_create_validation(client, users):
    alice = await users.make()
    cases = [
        (new(title=""), "title"),
        (new(title="   "), "title"),
        (new(description=""), "description"),
        (new(body=""), "body"),
        (new(title=None), "title"),
        (new(title=5), "title"),
        (new(tagList="dragons"), "tagList"),
        (new(tagList=[""]), "tagList"),
        (new(tagList=["  "]), "tagList"),
        (new(tagList=["x" * 65]), "tagList"),
        (new(tagList=[str(n) for n in range(21)]), "tagList"),
        (new(title="t" * 256), "title"),
        ({"article": "nope"}, "article"),
        ({}, "article"),
    ]
    for payload, key in cases:
        response = await client.post("/api/articles", json=payload, headers=alice.headers)
        errors = await error_of(response, 422)
        assert key in errors, (payload, errors)
    missing = {"article": {"description": "d", "body": "b"}}
    errors = await error_of(
        await client.post("/api/articles", json=missing, headers=alice.headers), 422
    )
    assert errors == {"title": ["can't be blank"]}
    listing = await (await client.get("/api/articles")).get_json()
    assert listing["articlesCount"] == 0  # nothing was half-written


async def test_create_bad_bodies(client, users):
    alice = await users.make()
    response = await raw_post(client, "/api/articles", b"{not json", headers=alice.headers)
    assert (await error_of(response, 422)).keys() == {"body"}
    response = await raw_post(
        client, "/api/articles", b"title=x", content_type="text/plain", headers=alice.headers
    )
    await error_of(response, 415)
    nul = b'{"article":{"title":"a\\u0000b","description":"d","body":"b"}}'
    response = await raw_post(client, "/api/articles", nul, headers=alice.headers)
    await error_of(response, 422)


async def test_slugs_are_url_safe_and_unique(client, users, articles):
    alice = await users.make()
    first = await articles.make(alice, title="Héllo, Wörld! ¿Qué?")
    second = await articles.make(alice, title="Héllo, Wörld! ¿Qué?")
    odd = await articles.make(alice, title="日本語 ✓")
    assert first["slug"] == "hello-world-que"
    assert second["slug"].startswith("hello-world-que-")
    assert second["slug"] != first["slug"]
    assert re.fullmatch(r"[a-z0-9-]+", odd["slug"])
    for slug in (first["slug"], second["slug"], odd["slug"]):
        assert (await client.get(f"/api/articles/{slug}")).status_code == 200


async def test_non_latin_titles_get_readable_slugs(client, users, articles):
    alice = await users.make()
    for title, slug in [
        ("Привет, мир!", "privet-mir"),
        ("你好世界", "ni-hao-shi-jie"),
        ("🚀", "rocket"),
    ]:
        made = await articles.make(alice, title=title)
        assert made["slug"] == slug
        got = await (await client.get(f"/api/articles/{slug}")).get_json()
        assert got["article"]["title"] == title
    again = await articles.make(alice, title="Привет, мир!")
    assert re.fullmatch(r"privet-mir-[0-9a-f]{8}", again["slug"])


async def test_concurrent_same_title_gets_distinct_slugs(client, users):
    alice = await users.make()
    responses = await asyncio.gather(
        *(
            client.post("/api/articles", json=new(title="Same"), headers=alice.headers)
            for _ in range(10)
        )
    )
    assert [r.status_code for r in responses] == [201] * 10
    slugs = {(await r.get_json())["article"]["slug"] for r in responses}
    assert len(slugs) == 10
    assert "same" in slugs
    listing = await (await client.get("/api/articles?limit=100")).get_json()
    assert listing["articlesCount"] == 10


async def test_update_fields_and_tags(client, users, articles):
    alice = await users.make()
    article = await articles.make(alice, title="Original", tags=["a", "b"])
    response = await client.put(
        f"/api/articles/{article['slug']}",
        json={
            "article": {"description": "New description", "body": "New body", "tagList": ["c", "a"]}
        },
        headers=alice.headers,
    )
    assert response.status_code == 200
    updated = (await response.get_json())["article"]
    assert updated["slug"] == "original"  # same title, same slug
    assert updated["description"] == "New description"
    assert updated["body"] == "New body"
    assert updated["tagList"] == ["a", "c"]
    assert updated["createdAt"] == article["createdAt"]
    assert updated["updatedAt"] >= article["updatedAt"]
    tags = await (await client.get("/api/tags")).get_json()
    assert sorted(tags["tags"]) == ["a", "c"]


async def test_new_title_gives_new_slug_and_old_one_redirects(client, users, articles):
    alice = await users.make()
    article = await articles.make(alice, title="Before")
    response = await client.put(
        "/api/articles/before", json={"article": {"title": "After"}}, headers=alice.headers
    )
    updated = (await response.get_json())["article"]
    assert updated["slug"] == "after"
    assert updated["title"] == "After"
    assert updated["body"] == article["body"]
    moved = await client.get("/api/articles/before")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/api/articles/after"
    assert (await client.get("/api/articles/after")).status_code == 200


async def test_new_title_clashing_with_another_slug(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Taken")
    await articles.make(alice, title="Free")
    response = await client.put(
        "/api/articles/free", json={"article": {"title": "Taken"}}, headers=alice.headers
    )
    slug = (await response.get_json())["article"]["slug"]
    assert slug.startswith("taken-")
    assert slug != "taken"


async def test_update_validation(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Kept")
    for payload, key in [
        ({"article": {"title": ""}}, "title"),
        ({"article": {"title": None}}, "title"),
        ({"article": {"body": None}}, "body"),
        ({"article": {"tagList": None}}, "tagList"),
        ({"article": {"tagList": [" "]}}, "tagList"),
    ]:
        response = await client.put("/api/articles/kept", json=payload, headers=alice.headers)
        assert key in await error_of(response, 422), payload
    article = (await (await client.get("/api/articles/kept")).get_json())["article"]
    assert article["title"] == "Kept"


async def test_only_the_author_updates_or_deletes(client, users, articles):
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Mine")
    response = await client.put(
        "/api/articles/mine", json={"article": {"title": "Stolen"}}, headers=bob.headers
    )
    assert await error_of(response, 403) == {"article": ["forbidden"]}
    response = await client.delete("/api/articles/mine", headers=bob.headers)
    assert await error_of(response, 403) == {"article": ["forbidden"]}
    for method in ("PUT", "DELETE"):
        response = await client.open("/api/articles/mine", method=method, json=new())
        assert await error_of(response, 401) == {"token": ["is missing"]}
    assert (await client.get("/api/articles/mine")).status_code == 200


async def test_delete_removes_comments_favorites_and_tag_links(app, client, users, articles):
    alice, bob = await users.make(), await users.make()
    article = await articles.make(alice, title="Doomed", tags=["gone"])
    await articles.make(alice, title="Stays", tags=["kept"])
    await client.post("/api/articles/doomed/favorite", headers=bob.headers)
    await client.post(
        "/api/articles/doomed/comments", json={"comment": {"body": "hi"}}, headers=bob.headers
    )
    response = await client.delete(f"/api/articles/{article['slug']}", headers=alice.headers)
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert (await client.get("/api/articles/doomed")).status_code == 404
    async with app.extensions["db"].sessionmaker() as session:
        for model in (Comment, Favorite, ArticleTag):
            count = await session.scalar(select(func.count()).select_from(model))
            assert count == (1 if model is ArticleTag else 0), model
    tags = await (await client.get("/api/tags")).get_json()
    assert tags == {"tags": ["kept"]}
    listing = await (await client.get("/api/articles")).get_json()
    assert listing["articlesCount"] == 1
    again = await client.delete("/api/articles/doomed", headers=alice.headers)
    await error_of(again, 404)

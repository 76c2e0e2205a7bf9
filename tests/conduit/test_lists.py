"""GET /api/articles (filters, pagination, order, totals) and GET /api/articles/feed."""

from __future__ import annotations

import pytest

from tests.helpers import error_of


async def slugs(client, query="", headers=None):
    response = await client.get(f"/api/articles{query}", headers=headers or {})
    body = await response.get_json()
    assert response.status_code == 200, body
    return [a["slug"] for a in body["articles"]], body["articlesCount"]


@pytest.fixture
async def world(client, users, articles):
    """alice writes a1 (tags x, y) and a2 (x); bob writes b1 (y); carol favourites a1 and b1."""
    alice = await users.make(username="alice")
    bob = await users.make(username="bob")
    carol = await users.make(username="carol")
    await articles.make(alice, title="a1", tags=["x", "y"])
    await articles.make(alice, title="a2", tags=["x"])
    await articles.make(bob, title="b1", tags=["y"])
    for slug in ("a1", "b1"):
        await client.post(f"/api/articles/{slug}/favorite", headers=carol.headers)
    return alice, bob, carol


async def test_newest_first_without_body(client, world):
    response = await client.get("/api/articles")
    body = await response.get_json()
    assert [a["slug"] for a in body["articles"]] == ["b1", "a2", "a1"]
    assert body["articlesCount"] == 3
    assert all("body" not in a for a in body["articles"])
    first = body["articles"][2]
    assert first["tagList"] == ["x", "y"]
    assert first["favoritesCount"] == 1
    assert set(first) == {
        "slug",
        "title",
        "description",
        "tagList",
        "createdAt",
        "updatedAt",
        "favorited",
        "favoritesCount",
        "author",
    }


async def test_each_filter_alone(client, world):
    assert await slugs(client, "?tag=x") == (["a2", "a1"], 2)
    assert await slugs(client, "?tag=y") == (["b1", "a1"], 2)
    assert await slugs(client, "?author=alice") == (["a2", "a1"], 2)
    assert await slugs(client, "?author=ALICE") == (["a2", "a1"], 2)
    assert await slugs(client, "?favorited=carol") == (["b1", "a1"], 2)


async def test_filters_combine_with_and(client, world):
    assert await slugs(client, "?tag=y&author=alice") == (["a1"], 1)
    assert await slugs(client, "?tag=x&favorited=carol") == (["a1"], 1)
    assert await slugs(client, "?author=bob&favorited=carol") == (["b1"], 1)
    assert await slugs(client, "?tag=x&author=bob") == ([], 0)
    assert await slugs(client, "?tag=y&author=alice&favorited=carol") == (["a1"], 1)


async def test_unknown_filter_values_give_empty_lists(client, world):
    for query in (
        "?tag=nope",
        "?author=nobody",
        "?favorited=nobody",
        "?favorited=alice",
        "?tag=%20",
        "?offset=10&tag=%20",
    ):
        assert await slugs(client, query) == ([], 0)


async def test_pagination_edges(client, world):
    assert await slugs(client, "?limit=1") == (["b1"], 3)
    assert await slugs(client, "?limit=1&offset=1") == (["a2"], 3)
    assert await slugs(client, "?limit=2&offset=2") == (["a1"], 3)
    assert await slugs(client, "?offset=3") == ([], 3)
    assert await slugs(client, "?offset=500&tag=x") == ([], 2)
    assert await slugs(client, "?limit=100") == (["b1", "a2", "a1"], 3)


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=abc",
        "?offset=-1",
        "?offset=x",
        "?limit=1.5",
        "?tag=",
        "?author=",
        "?favorited=",
    ],
)
async def test_bad_pagination_and_filters_are_422(client, query):
    errors = await error_of(await client.get(f"/api/articles{query}"), 422)
    assert errors.keys() & {"limit", "offset", "tag", "author", "favorited"}


async def test_favorited_reflects_the_caller(client, world):
    _, _, carol = world
    body = await (await client.get("/api/articles", headers=carol.headers)).get_json()
    assert {a["slug"]: a["favorited"] for a in body["articles"]} == {
        "b1": True,
        "a2": False,
        "a1": True,
    }
    anonymous = await (await client.get("/api/articles")).get_json()
    assert not any(a["favorited"] for a in anonymous["articles"])


async def test_invalid_token_on_list_is_401(client, world):
    response = await client.get("/api/articles", headers={"Authorization": "Bearer bad"})
    assert await error_of(response, 401) == {"token": ["is invalid"]}


async def test_order_ties_break_by_id(app, client, users, articles):
    from sqlalchemy import update

    from service.models import Article, ArticleTag

    alice = await users.make()
    for title in ("t1", "t2", "t3"):
        await articles.make(alice, title=title, tags=["same"])
    async with app.extensions["db"].sessionmaker() as session, session.begin():
        first = await session.scalar(select_created(Article, "t1"))
        await session.execute(update(Article).values(created_at=first))
        await session.execute(update(ArticleTag).values(created_at=first))
    for query in ("", "?tag=same", f"?author={alice.username}"):
        assert (await slugs(client, query))[0] == ["t3", "t2", "t1"]


def select_created(model, slug):
    from sqlalchemy import select

    return select(model.created_at).where(model.slug == slug)


async def test_feed_lists_followed_authors_only(client, world, users):
    _alice, _bob, carol = world
    assert await slugs(client, "/feed", carol.headers) == ([], 0)
    await client.post("/api/profiles/alice/follow", headers=carol.headers)
    assert await slugs(client, "/feed", carol.headers) == (["a2", "a1"], 2)
    await client.post("/api/profiles/bob/follow", headers=carol.headers)
    assert await slugs(client, "/feed?limit=1&offset=1", carol.headers) == (["a2"], 3)
    body = await (await client.get("/api/articles/feed", headers=carol.headers)).get_json()
    assert all(a["author"]["following"] for a in body["articles"])
    assert {a["slug"]: a["favorited"] for a in body["articles"]}["a1"] is True
    await client.delete("/api/profiles/alice/follow", headers=carol.headers)
    assert await slugs(client, "/feed", carol.headers) == (["b1"], 1)


async def test_feed_needs_a_token_and_valid_paging(client, world):
    _, _, carol = world
    assert await error_of(await client.get("/api/articles/feed"), 401) == {"token": ["is missing"]}
    response = await client.get("/api/articles/feed?limit=0", headers=carol.headers)
    assert "limit" in await error_of(response, 422)

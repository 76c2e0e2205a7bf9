"""SQL statements per request stay fixed however long the page: no N+1."""

from __future__ import annotations

import pytest


@pytest.fixture
async def crowd(client, users, articles):
    """120 articles by 3 authors with tags and favourites; one reader following all authors;
    100 comments on one article."""
    authors = [await users.make() for _ in range(3)]
    reader = await users.make()
    for author in authors:
        await client.post(f"/api/profiles/{author.username}/follow", headers=reader.headers)
    for n in range(120):
        article = await articles.make(
            authors[n % 3], title=f"Crowd {n}", tags=["common", f"t{n % 7}"]
        )
        if n % 2:
            await client.post(f"/api/articles/{article['slug']}/favorite", headers=reader.headers)
    for n in range(100):
        await client.post(
            "/api/articles/crowd-0/comments",
            json={"comment": {"body": f"c{n}"}},
            headers=authors[n % 3].headers,
        )
    return authors, reader


async def statements(client, count_queries, path, headers=None):
    count_queries.reset()
    response = await client.get(path, headers=headers or {})
    assert response.status_code == 200, await response.get_json()
    return count_queries.count


LISTS = [
    "/api/articles?limit={n}",
    "/api/articles?tag=common&limit={n}",
    "/api/articles?author={author}&limit={n}",
    "/api/articles?favorited={reader}&limit={n}",
    "/api/articles?tag=common&author={author}&favorited={reader}&limit={n}",
    "/api/articles/feed?limit={n}",
]


async def test_counts_hold_for_every_endpoint(client, count_queries, crowd):
    """One fixture (it is slow to build) for every endpoint the contract lists."""
    authors, reader = crowd
    for path in LISTS:
        counts = []
        for n in (1, 100):
            url = path.format(n=n, author=authors[0].username, reader=reader.username)
            counts.append(await statements(client, count_queries, url, reader.headers))
        # One to identify the caller, then the page with its total and tags.
        assert counts == [2, 2], path
    await _anonymous_list(client, count_queries)
    await _single_article_comments_profile_tags(client, count_queries, authors, reader)


async def _anonymous_list(client, count_queries):
    assert await statements(client, count_queries, "/api/articles?limit=100") == 1
    # Past the end: no row carries the total, so it is asked for alone.
    assert await statements(client, count_queries, "/api/articles?offset=1000") == 2


async def _single_article_comments_profile_tags(client, count_queries, authors, reader):
    # The caller, then the article with its author, flags and tags in one row.
    assert await statements(client, count_queries, "/api/articles/crowd-0", reader.headers) == 2
    assert await statements(client, count_queries, "/api/articles/crowd-0") == 1
    comments = await client.get("/api/articles/crowd-0/comments")
    assert len((await comments.get_json())["comments"]) == 100
    assert (
        await statements(client, count_queries, "/api/articles/crowd-0/comments", reader.headers)
        == 3
    )
    assert (
        await statements(client, count_queries, "/api/articles/crowd-1/comments", reader.headers)
        == 3
    )
    assert (
        await statements(
            client, count_queries, f"/api/profiles/{authors[0].username}", reader.headers
        )
        == 2
    )
    assert await statements(client, count_queries, "/api/tags") == 1


async def test_writes_statement_counts(client, users, articles, count_queries):
    """Creating an article: the caller, the row (RETURNING its id), its slug in the history,
    its tags made or counted in one upsert, its links, the kept total, the webhooks to tell;
    no savepoint, nothing read back. A favourite: the caller, the article's id, the row, the
    article's count, the article as the answer shows it."""
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Taken", tags=["old"])
    body = {
        "article": {
            "title": "Taken",
            "description": "d",
            "body": "b",
            "tagList": ["old", "new", "New "],
        }
    }
    count_queries.reset()
    created = await client.post("/api/articles", json=body, headers=alice.headers)
    assert created.status_code == 201
    # The plain slug is taken: one more INSERT, which inserts nothing, before the suffixed one.
    assert count_queries.count == 8, count_queries.statements
    body["article"]["title"] = "Fresh"
    count_queries.reset()
    assert (await client.post("/api/articles", json=body, headers=alice.headers)).status_code == 201
    assert count_queries.count == 7, count_queries.statements
    count_queries.reset()
    assert (
        await client.post("/api/articles/fresh/favorite", headers=bob.headers)
    ).status_code == 200
    assert count_queries.count == 5, count_queries.statements
    listing = await (await client.get("/api/articles?limit=10")).get_json()
    assert listing["articlesCount"] == 3
    tags = await (await client.get("/api/articles?tag=old")).get_json()
    assert tags["articlesCount"] == 3

"""SQL statements per request stay fixed however long the page: no N+1."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine.interfaces import CacheStats


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


async def test_writes_statement_counts(app, client, users, articles, count_queries):
    """Creating an article: the caller, the row (RETURNING its id), its slug in the history,
    its tags made or counted in one upsert, its links, the kept total, the webhooks to tell;
    no savepoint, nothing read back. A favourite: the caller, the article's id, the row and
    the article's count, the article as the answer shows it."""
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
    # PostgreSQL adds the row and moves the count in one statement (SQLite: two).
    favorite_statements = 4 if "postgresql" in str(app.extensions["db"].engine.url) else 5
    assert count_queries.count == favorite_statements, count_queries.statements
    listing = await (await client.get("/api/articles?limit=10")).get_json()
    assert listing["articlesCount"] == 3
    tags = await (await client.get("/api/articles?tag=old")).get_json()
    assert tags["articlesCount"] == 3


async def test_writes_reuse_their_compiled_statements(app, client, users, articles):
    """The second time round, every statement of the writes (create, edit, favourite,
    comment, follow, delete, registration, login) comes from SQLAlchemy's compiled cache.
    An INSERT with several VALUES rows has no cache key: the tags', their links' and the
    totals' statements were compiled again on every create (0.1-0.4 ms of CPU each)."""
    sync_engine = app.extensions["db"].engine.sync_engine
    seen: list[tuple[list[str], Any]] = []

    def _record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any):
        # Transaction control and savepoints are fixed text, not cached statements; the hot
        # reads' driver path (daos/driver.py, no context) compiles each shape once itself.
        words = statement.split(None, 3)[:3]
        fixed = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        if context is not None and words[0].upper() not in fixed:
            seen.append((words, context.cache_hit))

    alice, bob = await users.make(), await users.make()

    async def writes(round_: int) -> None:
        body = {"title": f"Cached {round_}", "description": "d", "body": "b"}
        made = await articles.make(alice, tags=[f"new{round_}", "kept", f"more{round_}"], **body)
        path = f"/api/articles/{made['slug']}"
        edit = {"article": {"tagList": ["kept", f"other{round_}"]}}
        assert (await client.put(path, json=edit, headers=alice.headers)).status_code == 200
        assert (await client.post(f"{path}/favorite", headers=bob.headers)).status_code == 200
        assert (await client.delete(f"{path}/favorite", headers=bob.headers)).status_code == 200
        comment = {"comment": {"body": "c"}}
        said = await client.post(f"{path}/comments", json=comment, headers=bob.headers)
        assert said.status_code == 201
        comment_id = (await said.get_json())["comment"]["id"]
        gone = await client.delete(f"{path}/comments/{comment_id}", headers=bob.headers)
        assert gone.status_code == 204
        profile = f"/api/profiles/{alice.username}/follow"
        assert (await client.post(profile, headers=bob.headers)).status_code == 200
        assert (await client.delete(profile, headers=bob.headers)).status_code == 200
        assert (await client.delete(path, headers=alice.headers)).status_code == 204
        user = {
            "username": f"joiner{round_}",
            "email": f"j{round_}@example.com",
            "password": "pw" * 6,
        }
        assert (await client.post("/api/users", json={"user": user})).status_code == 201
        del user["username"]
        assert (await client.post("/api/users/login", json={"user": user})).status_code == 200

    await writes(0)
    event.listen(sync_engine, "before_cursor_execute", _record)
    try:
        await writes(1)
    finally:
        event.remove(sync_engine, "before_cursor_execute", _record)
    assert seen
    not_cached = [(words, hit) for words, hit in seen if hit != CacheStats.CACHE_HIT]
    assert not not_cached, not_cached

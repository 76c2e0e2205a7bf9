"""TAGS_CACHE_SECONDS: GET /api/tags from process memory for a while, then from the database."""

from __future__ import annotations

import time

from tests.factories import ArticleMaker, UserFactory


async def test_tags_are_cached_for_their_time_then_read_again(app_with, monkeypatch):
    app = await app_with(tags_cache_seconds=30)
    client = app.test_client()
    users, articles = UserFactory(app), ArticleMaker(client)
    author = await users.make()
    await articles.make(author, tags=["first"])

    clock = [time.monotonic()]
    monkeypatch.setattr("service.services.tags.time.monotonic", lambda: clock[0])

    async def tags() -> list[str]:
        response = await client.get("/api/tags")
        assert response.status_code == 200
        return (await response.get_json())["tags"]

    assert await tags() == ["first"]
    await articles.make(author, tags=["second"])
    clock[0] += 29
    assert await tags() == ["first"]  # still the cached answer
    clock[0] += 2
    assert await tags() == ["first", "second"]  # past its time: read again


async def test_zero_turns_the_cache_off(app_with):
    app = await app_with(tags_cache_seconds=0)
    client = app.test_client()
    author = await UserFactory(app).make()
    await ArticleMaker(client).make(author, tags=["first"])
    assert (await (await client.get("/api/tags")).get_json())["tags"] == ["first"]
    await ArticleMaker(client).make(author, tags=["second"])
    assert (await (await client.get("/api/tags")).get_json())["tags"] == ["first", "second"]

"""The contract end to end against a live hypercorn server, as an outside client sees it."""

from __future__ import annotations

import httpx

from tests.conftest import empty_tables
from tests.live import live_server


async def test_conduit_scenario_on_a_live_server(tmp_path, settings, engine):
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    try:
        with live_server(tmp_path, env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                await scenario(http)
    finally:
        await empty_tables(engine)


async def call(http, method, path, token=None, json=None, status=200):
    headers = {"Authorization": f"Token {token}"} if token else {}
    response = await http.request(method, path, headers=headers, json=json)
    assert response.status_code == status, (method, path, response.status_code, response.text)
    if status == 204:
        assert response.content == b""
        return None
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def scenario(http):
    # Two users register and log in.
    writer = await call(
        http,
        "POST",
        "/api/users",
        status=201,
        json={
            "user": {
                "username": "Writer",
                "email": "Writer@Example.com",
                "password": "writer-pass-1",
            }
        },
    )
    assert writer["user"]["email"] == "writer@example.com"
    await call(
        http,
        "POST",
        "/api/users",
        status=201,
        json={
            "user": {
                "username": "reader",
                "email": "reader@example.com",
                "password": "reader-pass-1",
            }
        },
    )
    login = await call(
        http,
        "POST",
        "/api/users/login",
        json={"user": {"email": "READER@example.com", "password": "reader-pass-1"}},
    )
    w, r = writer["user"]["token"], login["user"]["token"]

    # The reader follows the writer, who writes three tagged articles.
    profile = await call(http, "POST", "/api/profiles/writer/follow", r)
    assert profile["profile"] == {
        "username": "Writer",
        "bio": None,
        "image": None,
        "following": True,
    }
    slugs = []
    for n in range(3):
        made = await call(
            http,
            "POST",
            "/api/articles",
            w,
            status=201,
            json={
                "article": {
                    "title": f"Live article {n}",
                    "description": "d",
                    "body": f"body {n}",
                    "tagList": ["live", f"n{n}"],
                }
            },
        )
        slugs.append(made["article"]["slug"])
    assert slugs == ["live-article-0", "live-article-1", "live-article-2"]

    # Favourite, comment, read the feed and paginate it.
    fav = await call(http, "POST", f"/api/articles/{slugs[0]}/favorite", r)
    assert fav["article"]["favorited"] is True
    assert fav["article"]["favoritesCount"] == 1
    comment = await call(
        http,
        "POST",
        f"/api/articles/{slugs[0]}/comments",
        r,
        status=201,
        json={"comment": {"body": "Nice"}},
    )
    comments = await call(http, "GET", f"/api/articles/{slugs[0]}/comments")
    assert [c["id"] for c in comments["comments"]] == [comment["comment"]["id"]]
    feed = await call(http, "GET", "/api/articles/feed?limit=2", r)
    assert [a["slug"] for a in feed["articles"]] == [slugs[2], slugs[1]]
    assert feed["articlesCount"] == 3
    page2 = await call(http, "GET", "/api/articles/feed?limit=2&offset=2", r)
    assert [a["slug"] for a in page2["articles"]] == [slugs[0]]
    assert page2["articles"][0]["favorited"] is True
    by_tag = await call(http, "GET", "/api/articles?tag=live&favorited=reader")
    assert [a["slug"] for a in by_tag["articles"]] == [slugs[0]]
    tags = await call(http, "GET", "/api/tags")
    assert tags["tags"][0] == "live"

    # A new title gives a new slug; the old one redirects to it. Only the author may delete.
    updated = await call(
        http, "PUT", f"/api/articles/{slugs[1]}", w, json={"article": {"title": "Renamed"}}
    )
    assert updated["article"]["slug"] == "renamed"
    moved = await call(http, "GET", f"/api/articles/{slugs[1]}", status=301)
    assert moved["article"]["slug"] == "renamed"
    followed = await http.get(f"/api/articles/{slugs[1]}", follow_redirects=True)
    assert followed.status_code == 200
    assert str(followed.url).endswith("/api/articles/renamed")
    assert followed.json() == moved
    # Conditional requests over real HTTP: a 304 has no body.
    tag = followed.headers["ETag"]
    again = await http.get("/api/articles/renamed", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", tag)
    await call(http, "DELETE", "/api/articles/renamed", r, status=403)
    await call(http, "DELETE", "/api/articles/renamed", w, status=204)
    await call(http, "GET", f"/api/articles/{slugs[1]}", status=404)
    await call(
        http,
        "DELETE",
        f"/api/articles/{slugs[0]}/comments/{comment['comment']['id']}",
        r,
        status=204,
    )
    final = await call(http, "GET", "/api/articles")
    assert final["articlesCount"] == 2
    assert await call(http, "DELETE", "/api/profiles/writer/follow", r) == {
        "profile": {"username": "Writer", "bio": None, "image": None, "following": False}
    }
    assert (await call(http, "GET", "/api/articles/feed", r))["articlesCount"] == 0

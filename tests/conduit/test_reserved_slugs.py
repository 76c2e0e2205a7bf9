"""No slug equals a fixed path segment under /api/articles/ (today `feed`): such an article
would be shadowed by that route for GET and reached by PUT and DELETE meant for it. And that
path is the fixed route's alone: the article routes do not match it."""

from __future__ import annotations

from tests.helpers import error_of

FEED_METHODS = {"GET", "HEAD", "OPTIONS"}


def _fixed_segments(app) -> set[str]:
    """Static segments that routes put where a slug goes: /api/articles/<here>."""
    segments = set()
    for rule in app.url_map.iter_rules():
        parts = rule.rule.split("/")
        if parts[:3] == ["", "api", "articles"] and len(parts) > 3 and "<" not in parts[3]:
            segments.add(parts[3])
    return segments


async def test_a_title_that_slugifies_to_a_route_gets_another_slug(app, client, users, articles):
    fixed = _fixed_segments(app)
    assert "feed" in fixed
    alice = await users.make()
    for segment in fixed:
        for title in (segment.title(), f" {segment.upper()}! "):
            article = await articles.make(alice, title=title)
            assert article["slug"] not in fixed, title
            assert article["slug"].startswith(f"{segment}-"), article["slug"]
            got = await client.get(f"/api/articles/{article['slug']}")
            assert (await got.get_json())["article"]["title"] == title.strip()


async def test_a_new_title_never_moves_an_article_onto_a_route(app, client, users, articles):
    alice = await users.make()
    slug = (await articles.make(alice, title="Plain"))["slug"]
    response = await client.put(
        f"/api/articles/{slug}", json={"article": {"title": "Feed"}}, headers=alice.headers
    )
    moved = (await response.get_json())["article"]["slug"]
    assert moved != "feed"
    assert moved.startswith("feed-")
    # The path is the feed's alone: its other methods are not allowed there, as OPTIONS says.
    for method in ("PUT", "DELETE"):
        response = await client.open(
            "/api/articles/feed", method=method, headers=alice.headers, json={"article": {}}
        )
        assert await error_of(response, 405) == {"method": ["not allowed"]}, method
        assert {m.strip() for m in response.headers["Allow"].split(",")} == FEED_METHODS
    options = await client.options("/api/articles/feed")
    assert {m.strip() for m in options.headers["Allow"].split(",")} == FEED_METHODS
    feed = await client.get("/api/articles/feed", headers=alice.headers)
    assert (await feed.get_json()) == {"articles": [], "articlesCount": 0}
    assert (await client.get(f"/api/articles/{moved}")).status_code == 200

"""Links that last: an article's old slugs redirect to its current one, and stay its own."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from service.models import ArticleSlug
from tests.helpers import error_of


async def rename(client, author, slug, title):
    response = await client.put(
        f"/api/articles/{slug}", json={"article": {"title": title}}, headers=author.headers
    )
    assert response.status_code == 200, await response.get_json()
    return (await response.get_json())["article"]


async def assert_moved(client, old, current, headers=None, suffix=""):
    """GET under `old` answers 301 to the current path, with the body the current path shows."""
    response = await client.get(f"/api/articles/{old}{suffix}", headers=headers or {})
    assert response.status_code == 301, (old, response.status_code)
    assert response.headers["Location"] == f"/api/articles/{current}{suffix}"
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "ETag" not in response.headers
    target = await client.get(f"/api/articles/{current}{suffix}", headers=headers or {})
    assert target.status_code == 200
    assert await response.get_json() == await target.get_json()
    return await response.get_json()


async def test_old_slug_redirects_after_one_rename(client, users, articles):
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="First title")
    await client.post("/api/articles/first-title/favorite", headers=bob.headers)
    updated = await rename(client, alice, "first-title", "Second title")
    assert updated["slug"] == "second-title"
    body = await assert_moved(client, "first-title", "second-title")
    assert body["article"]["title"] == "Second title"
    assert body["article"]["favorited"] is False
    mine = await assert_moved(client, "first-title", "second-title", bob.headers)
    assert mine["article"]["favorited"] is True  # personalised like the page it points to
    await assert_moved(client, "first-title", "second-title", suffix="/comments")


async def test_old_slugs_redirect_straight_to_the_current_one_after_two_renames(
    client, users, articles
):
    alice = await users.make()
    await articles.make(alice, title="One")
    await rename(client, alice, "one", "Two")
    await rename(client, alice, "two", "Three")
    for old in ("one", "two"):
        await assert_moved(client, old, "three")  # no chain of redirects
        await assert_moved(client, old, "three", alice.headers, suffix="/comments")
    assert (await client.get("/api/articles/three")).status_code == 200


async def test_renaming_back_to_an_old_slug(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Home")
    await rename(client, alice, "home", "Away")
    back = await rename(client, alice, "away", "Home")
    assert back["slug"] == "home"  # its own old slug, not a suffixed one
    assert (await client.get("/api/articles/home")).status_code == 200
    await assert_moved(client, "away", "home")


async def test_a_new_article_never_takes_a_redirecting_slug(client, users, articles):
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Classic")
    await rename(client, alice, "classic", "Classic revisited")
    taken = await articles.make(bob, title="Classic")
    assert taken["slug"].startswith("classic-")
    await assert_moved(client, "classic", "classic-revisited")
    # Nor may another article be renamed onto it.
    other = await articles.make(bob, title="Something else")
    renamed = await rename(client, bob, other["slug"], "Classic")
    assert renamed["slug"].startswith("classic-")
    assert renamed["slug"] != taken["slug"]
    await assert_moved(client, "classic", "classic-revisited")


async def test_concurrent_claims_of_a_redirecting_slug(client, users, articles):
    """New articles and a rename racing for one slug: one article has it, no link moves."""
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Contested")
    await articles.make(alice, title="Runner")

    async def create():
        return await client.post(
            "/api/articles",
            json={"article": {"title": "Contested", "description": "d", "body": "b"}},
            headers=bob.headers,
        )

    renamed, *others = await asyncio.gather(
        client.put(
            "/api/articles/contested", json={"article": {"title": "Gone"}}, headers=alice.headers
        ),
        *(create() for _ in range(4)),
        client.put(
            "/api/articles/runner", json={"article": {"title": "Contested"}}, headers=alice.headers
        ),
    )
    assert renamed.status_code == 200
    assert [r.status_code for r in others] == [201, 201, 201, 201, 200]
    responses = others
    slugs = [(await r.get_json())["article"]["slug"] for r in responses]
    assert len(set(slugs)) == 5
    assert "contested" not in slugs  # it redirects to "gone"
    await assert_moved(client, "contested", "gone")


async def test_writes_under_an_old_slug_act_on_the_current_article(client, users, articles):
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Old name")
    await rename(client, alice, "old-name", "New name")
    response = await client.post("/api/articles/old-name/favorite", headers=bob.headers)
    assert response.status_code == 200
    assert (await response.get_json())["article"]["slug"] == "new-name"
    response = await client.post(
        "/api/articles/old-name/comments", json={"comment": {"body": "hi"}}, headers=bob.headers
    )
    assert response.status_code == 201
    comment_id = (await response.get_json())["comment"]["id"]
    listing = await (await client.get("/api/articles/new-name/comments")).get_json()
    assert [c["id"] for c in listing["comments"]] == [comment_id]
    response = await client.delete(
        f"/api/articles/old-name/comments/{comment_id}", headers=bob.headers
    )
    assert response.status_code == 204
    response = await client.delete("/api/articles/old-name/favorite", headers=bob.headers)
    assert (await response.get_json())["article"]["favoritesCount"] == 0
    response = await client.put(
        "/api/articles/old-name", json={"article": {"body": "edited"}}, headers=alice.headers
    )
    assert response.status_code == 200
    assert (await response.get_json())["article"]["slug"] == "new-name"
    # Ownership is the article's, whichever slug names it.
    response = await client.put(
        "/api/articles/old-name", json={"article": {"body": "stolen"}}, headers=bob.headers
    )
    assert await error_of(response, 403) == {"article": ["forbidden"]}
    response = await client.delete("/api/articles/old-name", headers=alice.headers)
    assert response.status_code == 204
    for slug in ("old-name", "new-name"):
        await error_of(await client.get(f"/api/articles/{slug}"), 404)


async def test_deleting_an_article_frees_its_slugs(app, client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Short lived")
    await rename(client, alice, "short-lived", "Shorter lived")
    await client.delete("/api/articles/shorter-lived", headers=alice.headers)
    async with app.extensions["db"].sessionmaker() as session:
        assert (await session.scalars(select(ArticleSlug.slug))).all() == []
    again = await articles.make(alice, title="Short lived")
    assert again["slug"] == "short-lived"


async def test_history_holds_every_slug_of_every_live_article(app, client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Alpha")
    await articles.make(alice, title="Beta")
    await rename(client, alice, "alpha", "Gamma")
    async with app.extensions["db"].sessionmaker() as session:
        rows = (await session.execute(select(ArticleSlug.slug, ArticleSlug.article_id))).all()
    by_slug = dict(rows)
    assert set(by_slug) == {"alpha", "beta", "gamma"}
    assert by_slug["alpha"] == by_slug["gamma"] != by_slug["beta"]


async def test_unknown_slug_is_still_404(client, users):
    await users.make()
    for path in ("/api/articles/never", "/api/articles/never/comments"):
        assert await error_of(await client.get(path), 404) == {"article": ["not found"]}


async def test_concurrent_renames_of_one_article_all_land(client, users, articles):
    """Without If-Match the last write wins, as before; every slug it passed through
    redirects to the one it ends with (no deadlock between the renames on PostgreSQL)."""
    alice = await users.make()
    await articles.make(alice, title="Start")
    edits = [{"article": {"title": f"Name {n}"}} for n in range(4)]
    edits += [{"article": {"body": f"body {n}"}} for n in range(2)]
    responses = await asyncio.gather(
        *(client.put("/api/articles/start", json=edit, headers=alice.headers) for edit in edits)
    )
    assert [r.status_code for r in responses] == [200] * len(edits)
    final = (await (await client.get("/api/articles/start")).get_json())["article"]["slug"]
    assert final in {f"name-{n}" for n in range(4)}
    for old in {"start", *(f"name-{n}" for n in range(4))} - {final}:
        await assert_moved(client, old, final)

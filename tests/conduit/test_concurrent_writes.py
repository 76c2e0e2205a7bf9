"""Concurrent writes to one article: every request gets an answer from the contract, and the
kept counts (per tag, per author as the feed sums them, all articles) match the rows that are
really there."""

from __future__ import annotations

import asyncio

from tests.helpers import error_of

TAG_SETS = [[f"t{n}", f"t{n + 1}", "shared"] for n in range(10)]


async def _tag_counts(client, names):
    """Each tag's kept count (the filter's articlesCount) beside the articles really listed."""
    counts = {}
    for name in names:
        listing = await (await client.get(f"/api/articles?tag={name}&limit=100")).get_json()
        counts[name] = (listing["articlesCount"], len(listing["articles"]))
    return counts


async def _feed_count(client, reader):
    """The feed's articlesCount (the followed authors' kept totals) beside its articles."""
    feed = await (
        await client.get("/api/articles/feed?limit=100", headers=reader.headers)
    ).get_json()
    return feed["articlesCount"], len(feed["articles"])


async def test_concurrent_retags_all_succeed_and_the_last_writer_wins(client, users, articles):
    alice = await users.make()
    slug = (await articles.make(alice, title="Contended", tags=["old", "shared"]))["slug"]
    responses = await asyncio.gather(
        *(
            client.put(
                f"/api/articles/{slug}", json={"article": {"tagList": tags}}, headers=alice.headers
            )
            for tags in TAG_SETS
        )
    )
    bodies = [await r.get_json() for r in responses]
    assert [r.status_code for r in responses] == [200] * len(TAG_SETS), bodies
    # Each answer shows the tags that request set; the article keeps exactly one of the sets.
    for tags, body in zip(TAG_SETS, bodies, strict=True):
        assert body["article"]["tagList"] == sorted(tags)
    final = (await (await client.get(f"/api/articles/{slug}")).get_json())["article"]["tagList"]
    assert final in [sorted(tags) for tags in TAG_SETS]
    everything = {"old", *(name for tags in TAG_SETS for name in tags)}
    counts = await _tag_counts(client, everything)
    assert counts == {name: (1, 1) if name in final else (0, 0) for name in everything}
    assert sorted((await (await client.get("/api/tags")).get_json())["tags"]) == final


async def test_concurrent_deletes_one_succeeds_and_counts_stay_right(client, users, articles):
    alice, reader = await users.make(), await users.make()
    await client.post(f"/api/profiles/{alice.username}/follow", headers=reader.headers)
    slug = (await articles.make(alice, title="Doomed", tags=["dragons", "gone"]))["slug"]
    await articles.make(alice, title="Survivor", tags=["dragons"])
    responses = await asyncio.gather(
        *(client.delete(f"/api/articles/{slug}", headers=alice.headers) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [204] + [404] * 9
    for response in responses:
        if response.status_code == 404:
            assert await error_of(response, 404) == {"article": ["not found"]}
    assert await _tag_counts(client, ["dragons", "gone"]) == {"dragons": (1, 1), "gone": (0, 0)}
    assert (await (await client.get("/api/tags")).get_json())["tags"] == ["dragons"]
    listing = await (await client.get("/api/articles")).get_json()
    assert (listing["articlesCount"], len(listing["articles"])) == (1, 1)
    assert await _feed_count(client, reader) == (1, 1)  # one delete counted, not ten


async def test_comments_and_favourites_racing_a_delete_get_contract_answers(
    client, users, articles
):
    alice, bob = await users.make(), await users.make()
    for round_ in range(3):
        slug = (await articles.make(alice, title=f"Racing {round_}", tags=["race"]))["slug"]
        requests = [client.delete(f"/api/articles/{slug}", headers=alice.headers)]
        for _ in range(5):
            requests.append(
                client.post(
                    f"/api/articles/{slug}/comments",
                    json={"comment": {"body": "first!"}},
                    headers=bob.headers,
                )
            )
            requests.append(client.post(f"/api/articles/{slug}/favorite", headers=bob.headers))
        responses = await asyncio.gather(*requests)
        assert responses[0].status_code == 204
        for response in responses[1:]:
            assert response.status_code in (200, 201, 404), await response.get_json()
            if response.status_code == 404:
                assert await error_of(response, 404) == {"article": ["not found"]}
        assert (await client.get(f"/api/articles/{slug}")).status_code == 404
    assert (await (await client.get("/api/tags")).get_json())["tags"] == []


async def test_concurrent_creates_and_deletes_keep_the_total_exact(client, users, articles):
    """The kept total (its shards summed) equals the articles there are, however creates and
    deletes by several authors interleave; so do the tags' counts."""
    authors = [await users.make() for _ in range(4)]
    reader = await users.make()
    for author in authors[:3]:
        await client.post(f"/api/profiles/{author.username}/follow", headers=reader.headers)
    doomed = [
        (
            (await articles.make(authors[n % 4], title=f"Doomed {n}", tags=["both", "old"]))[
                "slug"
            ],
            n,
        )
        for n in range(12)
    ]
    requests = [
        client.delete(f"/api/articles/{slug}", headers=authors[n % 4].headers) for slug, n in doomed
    ]
    for n in range(24):
        body = {
            "article": {
                "title": f"Fresh {n}",
                "description": "d",
                "body": "b",
                "tagList": ["both", f"new{n % 3}"],
            }
        }
        requests.insert(n, client.post("/api/articles", json=body, headers=authors[n % 4].headers))
    responses = await asyncio.gather(*requests)
    assert sorted(r.status_code for r in responses) == [201] * 24 + [204] * 12
    listing = await (await client.get("/api/articles?limit=100")).get_json()
    assert (listing["articlesCount"], len(listing["articles"])) == (24, 24)
    assert await _feed_count(client, reader) == (18, 18)  # authors 0-2 wrote 3 in 4
    counts = await _tag_counts(client, ["both", "old", "new0", "new1", "new2"])
    assert counts == {
        "both": (24, 24),
        "old": (0, 0),
        "new0": (8, 8),
        "new1": (8, 8),
        "new2": (8, 8),
    }


async def test_concurrent_creates_and_retags_making_the_same_new_tags(client, users, articles):
    """Creates and edits that make the same new tags, named in different orders, beside a tag
    they share: every request succeeds (no deadlock) and every count equals its articles."""
    authors = [await users.make() for _ in range(3)]
    edited = [
        (await articles.make(authors[n % 3], title=f"Edited {n}", tags=["keep"]))["slug"]
        for n in range(6)
    ]
    requests = []
    for n in range(12):
        tags = ["zz-new", "keep", "aa-new"] if n % 2 else ["aa-new", "keep", "zz-new"]
        body = {"article": {"title": f"Made {n}", "description": "d", "body": "b", "tagList": tags}}
        requests.append(client.post("/api/articles", json=body, headers=authors[n % 3].headers))
    for n, slug in enumerate(edited):
        tags = ["zz-new", "aa-new"] if n % 2 else ["aa-new", "zz-new"]
        requests.insert(
            2 * n,
            client.put(
                f"/api/articles/{slug}",
                json={"article": {"tagList": tags}},
                headers=authors[n % 3].headers,
            ),
        )
    responses = await asyncio.gather(*requests)
    assert sorted(r.status_code for r in responses) == [200] * 6 + [201] * 12
    counts = await _tag_counts(client, ["aa-new", "zz-new", "keep"])
    assert counts == {"aa-new": (18, 18), "zz-new": (18, 18), "keep": (12, 12)}

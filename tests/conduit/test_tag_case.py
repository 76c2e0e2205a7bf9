"""Tags that differ only in letter case are one tag, shown as it was first written."""

from __future__ import annotations

import asyncio

from tests.helpers import error_of


async def _listed(client, query):
    listing = await (await client.get(f"/api/articles?{query}")).get_json()
    return sorted(a["title"] for a in listing["articles"]), listing["articlesCount"]


async def test_case_variants_are_one_tag_spelled_as_first_used(client, users, articles):
    alice = await users.make()
    first = await articles.make(alice, title="First", tags=["Dragons"])
    second = await articles.make(alice, title="Second", tags=["dragons", "DRAGONS", "training"])
    assert first["tagList"] == ["Dragons"]
    assert second["tagList"] == ["Dragons", "training"]
    got = await (await client.get(f"/api/articles/{second['slug']}")).get_json()
    assert got["article"]["tagList"] == ["Dragons", "training"]
    assert (await (await client.get("/api/tags")).get_json()) == {"tags": ["Dragons", "training"]}
    for spelling in ("Dragons", "dragons", "DRAGONS", "dRaGoNs"):
        assert await _listed(client, f"tag={spelling}") == (["First", "Second"], 2), spelling


async def test_compatibility_forms_fold_too(client, users, articles):
    alice = await users.make()
    wide = "\uff30\uff59\uff54\uff48\uff4f\uff4e"  # "Python" in full-width letters
    await articles.make(alice, title="Wide", tags=[wide])
    other = await articles.make(alice, title="Narrow", tags=["python", "Straße"])
    assert other["tagList"] == ["Straße", wide]
    assert await _listed(client, "tag=STRASSE") == (["Narrow"], 1)


async def test_retagging_in_another_case_changes_nothing(client, users, articles):
    alice = await users.make()
    slug = (await articles.make(alice, title="Kept", tags=["Rust"]))["slug"]
    response = await client.put(
        f"/api/articles/{slug}",
        json={"article": {"tagList": ["RUST", "rust"]}},
        headers=alice.headers,
    )
    assert (await response.get_json())["article"]["tagList"] == ["Rust"]
    assert await _listed(client, "tag=rust") == (["Kept"], 1)
    assert (await (await client.get("/api/tags")).get_json()) == {"tags": ["Rust"]}


async def test_concurrent_first_uses_in_different_cases_make_one_tag(client, users):
    alice = await users.make()
    spellings = ["Go", "go", "GO", "gO"] * 2
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/articles",
                json={
                    "article": {"title": f"T{n}", "description": "d", "body": "b", "tagList": [s]}
                },
                headers=alice.headers,
            )
            for n, s in enumerate(spellings)
        )
    )
    assert [r.status_code for r in responses] == [201] * len(spellings)
    shown = {tuple((await r.get_json())["article"]["tagList"]) for r in responses}
    assert len(shown) == 1
    (name,) = shown.pop()
    assert (await (await client.get("/api/tags")).get_json()) == {"tags": [name]}
    assert (await _listed(client, "tag=go"))[1] == len(spellings)


async def test_a_tag_folding_longer_than_its_key_column_is_refused(client, users):
    alice = await users.make()
    article = {"title": "T", "description": "d", "body": "b", "tagList": ["\ufdfa" * 15]}
    response = await client.post("/api/articles", json={"article": article}, headers=alice.headers)
    assert await error_of(response, 422) == {
        "tagList": ["is too long (maximum is 256 characters once case-folded)"]
    }

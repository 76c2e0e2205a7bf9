"""Conditional requests: ETag, If-None-Match (304), Cache-Control, and If-Match on PUT (412)."""

from __future__ import annotations

import asyncio
import re

from tests.helpers import error_of

STRONG_ETAG = re.compile(r'^"[A-Za-z0-9_-]{16,}"$')
PERSONAL = "private, no-cache"


async def etag_of(client, path, headers=None):
    """GET `path`: 200 with a strong ETag; the tag."""
    response = await client.get(path, headers=headers or {})
    assert response.status_code == 200, await response.get_json()
    tag = response.headers["ETag"]
    assert STRONG_ETAG.match(tag), tag
    return tag


async def revalidate(client, path, tag, headers=None):
    """GET `path` with If-None-Match: True for a 304, False for a 200 with a new tag."""
    response = await client.get(path, headers={**(headers or {}), "If-None-Match": tag})
    if response.status_code == 304:
        assert await response.get_data() == b""
        assert response.headers["ETag"] == tag
        return True
    assert response.status_code == 200, await response.get_json()
    assert response.headers["ETag"] != tag
    return False


async def test_every_read_carries_an_etag_and_answers_304(client, users, articles):
    alice, bob = await users.make(username="alice"), await users.make()
    await articles.make(alice, title="Tagged", tags=["t"])
    await client.post(
        "/api/articles/tagged/comments", json={"comment": {"body": "hi"}}, headers=bob.headers
    )
    await client.post("/api/profiles/alice/follow", headers=bob.headers)
    reads = [
        ("/api/articles/tagged", {}, PERSONAL),
        ("/api/articles/tagged", bob.headers, PERSONAL),
        ("/api/articles?limit=5", {}, PERSONAL),
        ("/api/articles?tag=t", bob.headers, PERSONAL),
        ("/api/articles/feed", bob.headers, PERSONAL),
        ("/api/articles/tagged/comments", bob.headers, PERSONAL),
        ("/api/profiles/alice", bob.headers, PERSONAL),
        ("/api/tags", {}, "public, max-age=5"),
    ]
    for path, headers, cache_control in reads:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == cache_control, path
        tag = response.headers["ETag"]
        assert STRONG_ETAG.match(tag), (path, tag)
        body = await response.get_data()
        for sent in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            again = await client.get(path, headers={**headers, "If-None-Match": sent})
            assert again.status_code == 304, (path, sent)
            assert await again.get_data() == b""
            assert again.headers["ETag"] == tag
            assert again.headers["Cache-Control"] == cache_control
        stale = await client.get(path, headers={**headers, "If-None-Match": '"stale"'})
        assert stale.status_code == 200, path
        assert await stale.get_data() == body
        head = await client.head(path, headers={**headers, "If-None-Match": tag})
        assert head.status_code == 304, path


async def test_no_conditional_headers_no_change_but_the_added_headers(client, users, articles):
    alice = await users.make()
    made = await articles.make(alice, title="Plain")
    response = await client.get("/api/articles/plain")
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    body = await response.get_json()
    assert body["article"]["slug"] == made["slug"]
    assert body["article"]["body"] == made["body"]
    # Errors carry no ETag; a 404 stays a 404 whatever the client sends.
    missing = await client.get("/api/articles/nope", headers={"If-None-Match": "*"})
    await error_of(missing, 404)
    assert "ETag" not in missing.headers


async def test_personalised_tags_differ_per_caller(client, users, articles):
    alice, bob, carol = await users.make(), await users.make(), await users.make()
    slug = (await articles.make(alice, title="Seen"))["slug"]
    path = f"/api/articles/{slug}"
    anonymous = await etag_of(client, path)
    bobs = await etag_of(client, path, bob.headers)
    carols = await etag_of(client, path, carol.headers)
    assert anonymous == bobs == carols  # everyone sees the same body so far
    # Bob follows the author: his `following` flag changes, nobody else's body does.
    await client.post(f"/api/profiles/{alice.username}/follow", headers=bob.headers)
    assert not await revalidate(client, path, bobs, bob.headers)
    assert await revalidate(client, path, carols, carol.headers)
    assert await revalidate(client, path, anonymous)
    bobs = await etag_of(client, path, bob.headers)
    # Carol favourites it: everyone's count changes, only her `favorited` flag.
    await client.post(f"{path}/favorite", headers=carol.headers)
    assert not await revalidate(client, path, bobs, bob.headers)
    assert not await revalidate(client, path, carols, carol.headers)
    assert not await revalidate(client, path, anonymous)
    # Bob follows the author, Carol favourited: three bodies, three tags.
    tags = {await etag_of(client, path, headers) for headers in ({}, bob.headers, carol.headers)}
    assert len(tags) == 3
    # The profile: Bob unfollows; only his view of it changes.
    profile = f"/api/profiles/{alice.username}"
    bobs_profile = await etag_of(client, profile, bob.headers)
    carols_profile = await etag_of(client, profile, carol.headers)
    await client.delete(f"{profile}/follow", headers=bob.headers)
    assert not await revalidate(client, profile, bobs_profile, bob.headers)
    assert await revalidate(client, profile, carols_profile, carol.headers)


async def test_etags_change_after_every_write_that_changes_a_response(client, users, articles):
    alice = await users.make(username="alice")
    bob, carol = await users.make(username="bob"), await users.make(username="carol")
    await client.post("/api/profiles/alice/follow", headers=bob.headers)
    await articles.make(alice, title="Watched", tags=["old"])
    await articles.make(alice, title="Other", tags=["old"])
    reads = [
        ("/api/articles/watched", bob.headers),
        ("/api/articles/watched", {}),
        ("/api/articles", bob.headers),
        ("/api/articles?author=alice", {}),
        ("/api/articles?favorited=bob", {}),
        ("/api/articles?tag=old", carol.headers),
        ("/api/articles/feed", bob.headers),
        ("/api/articles/watched/comments", bob.headers),
        ("/api/profiles/carol", bob.headers),
        ("/api/profiles/alice", {}),
        ("/api/tags", {}),
    ]

    async def snapshot():
        return {
            (path, bool(headers)): await etag_of(client, path, headers) for path, headers in reads
        }

    async def changed_by(write, *expected):
        """Run `write`; exactly the reads named by `expected` (path, signed_in) have new tags,
        the others still answer 304."""
        before = await snapshot()
        response = await write()
        assert response.status_code < 300, await response.get_data()
        moved = set()
        for path, headers in reads:
            key = (path, bool(headers))
            if not await revalidate(client, path, before[key], headers):
                moved.add(key)
        assert moved == set(expected), write
        return response

    watched = ("/api/articles/watched", True), ("/api/articles/watched", False)
    await changed_by(
        lambda: client.post("/api/articles/watched/favorite", headers=bob.headers),
        *watched,
        ("/api/articles", True),
        ("/api/articles?author=alice", False),
        ("/api/articles?favorited=bob", False),
        ("/api/articles?tag=old", True),
        ("/api/articles/feed", True),
    )
    await changed_by(
        lambda: client.post("/api/articles/watched/favorite", headers=carol.headers),
        *watched,
        ("/api/articles", True),
        ("/api/articles?author=alice", False),
        ("/api/articles?favorited=bob", False),
        ("/api/articles?tag=old", True),
        ("/api/articles/feed", True),
    )
    await changed_by(
        lambda: client.post("/api/profiles/carol/follow", headers=bob.headers),
        ("/api/profiles/carol", True),
    )
    comment = await changed_by(
        lambda: client.post(
            "/api/articles/watched/comments",
            json={"comment": {"body": "nice"}},
            headers=carol.headers,
        ),
        ("/api/articles/watched/comments", True),
    )
    comment_id = (await comment.get_json())["comment"]["id"]
    await changed_by(
        lambda: client.delete("/api/profiles/carol/follow", headers=bob.headers),
        ("/api/profiles/carol", True),
        ("/api/articles/watched/comments", True),  # Carol's comment: following no more
    )
    await changed_by(
        lambda: client.delete(
            f"/api/articles/watched/comments/{comment_id}", headers=carol.headers
        ),
        ("/api/articles/watched/comments", True),
    )
    await changed_by(
        lambda: client.put(
            "/api/articles/watched",
            json={"article": {"body": "new body", "tagList": ["new"]}},
            headers=alice.headers,
        ),
        *watched,
        ("/api/articles", True),  # updatedAt and tags
        ("/api/articles?author=alice", False),
        ("/api/articles?favorited=bob", False),
        ("/api/articles?tag=old", True),  # no longer tagged `old`
        ("/api/articles/feed", True),
        ("/api/tags", False),
    )
    await changed_by(
        lambda: client.put("/api/user", json={"user": {"bio": "hello"}}, headers=alice.headers),
        *watched,
        ("/api/articles", True),
        ("/api/articles?author=alice", False),
        ("/api/articles?favorited=bob", False),
        ("/api/articles?tag=old", True),  # `Other` is still there, by Alice
        ("/api/articles/feed", True),
        ("/api/profiles/alice", False),
    )
    await changed_by(
        lambda: client.delete("/api/articles/other", headers=alice.headers),
        ("/api/articles", True),
        ("/api/articles?author=alice", False),
        ("/api/articles?tag=old", True),
        ("/api/articles/feed", True),
        ("/api/tags", False),
    )
    await changed_by(
        lambda: client.delete("/api/articles/watched/favorite", headers=bob.headers),
        *watched,
        ("/api/articles", True),
        ("/api/articles?author=alice", False),
        ("/api/articles?favorited=bob", False),
        ("/api/articles/feed", True),
    )


async def _editable(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Draft", body="first")
    tag = await etag_of(client, "/api/articles/draft", alice.headers)
    return alice, tag


def _edit(body):
    return {"article": {"body": body}}


async def test_put_with_the_current_etag_succeeds_and_returns_the_new_one(client, users, articles):
    alice, tag = await _editable(client, users, articles)
    response = await client.put(
        "/api/articles/draft", json=_edit("second"), headers={**alice.headers, "If-Match": tag}
    )
    assert response.status_code == 200
    new_tag = response.headers["ETag"]
    assert new_tag != tag
    assert (await response.get_json())["article"]["body"] == "second"
    # The tag the PUT answered is the one a GET now shows: edits can be chained.
    assert await etag_of(client, "/api/articles/draft", alice.headers) == new_tag
    response = await client.put(
        "/api/articles/draft", json=_edit("third"), headers={**alice.headers, "If-Match": new_tag}
    )
    assert response.status_code == 200
    response = await client.put(
        "/api/articles/draft", json=_edit("fourth"), headers={**alice.headers, "If-Match": "*"}
    )
    assert response.status_code == 200
    current = await etag_of(client, "/api/articles/draft", alice.headers)
    response = await client.put(
        "/api/articles/draft",
        json=_edit("fifth"),
        headers={**alice.headers, "If-Match": f'"nope", {current}'},
    )
    assert response.status_code == 200


async def test_put_with_a_stale_etag_is_412_and_changes_nothing(client, users, articles):
    alice, tag = await _editable(client, users, articles)
    response = await client.put(
        "/api/articles/draft", json=_edit("second"), headers={**alice.headers, "If-Match": tag}
    )
    assert response.status_code == 200
    for stale in (tag, f"W/{tag}", '"made-up"', ""):
        response = await client.put(
            "/api/articles/draft",
            json={"article": {"title": "Overwritten", "body": "lost"}},
            headers={**alice.headers, "If-Match": stale},
        )
        errors = await error_of(response, 412)
        assert errors == {"article": ["has changed since you read it; read it again"]}, stale
    article = (await (await client.get("/api/articles/draft")).get_json())["article"]
    assert (article["title"], article["body"]) == ("Draft", "second")


async def test_a_favorite_between_read_and_write_is_a_change_too(client, users, articles):
    """The ETag covers everything the response shows, favoritesCount included."""
    alice, tag = await _editable(client, users, articles)
    bob = await users.make()
    await client.post("/api/articles/draft/favorite", headers=bob.headers)
    response = await client.put(
        "/api/articles/draft", json=_edit("second"), headers={**alice.headers, "If-Match": tag}
    )
    await error_of(response, 412)


async def test_if_match_keeps_401_403_404_and_422_first(client, users, articles):
    alice, tag = await _editable(client, users, articles)
    bob = await users.make()
    stale = {"If-Match": '"stale"'}
    response = await client.put("/api/articles/draft", json=_edit("x"), headers=stale)
    await error_of(response, 401)
    response = await client.put(
        "/api/articles/draft", json=_edit("x"), headers={**bob.headers, **stale}
    )
    await error_of(response, 403)
    response = await client.put(
        "/api/articles/nope", json=_edit("x"), headers={**alice.headers, **stale}
    )
    await error_of(response, 404)
    response = await client.put(
        "/api/articles/draft",
        json={"article": {"body": ""}},
        headers={**alice.headers, "If-Match": tag},
    )
    await error_of(response, 422)
    # Whatever the service checks of the body comes first too (found by the fuzz run).
    for change in ({"tagList": [" "]}, {"title": None}):
        response = await client.put(
            "/api/articles/draft", json={"article": change}, headers={**alice.headers, **stale}
        )
        await error_of(response, 422)


async def test_without_if_match_the_last_write_wins_as_before(client, users, articles):
    alice, _ = await _editable(client, users, articles)
    for body in ("second", "third"):
        response = await client.put("/api/articles/draft", json=_edit(body), headers=alice.headers)
        assert response.status_code == 200
    article = (await (await client.get("/api/articles/draft")).get_json())["article"]
    assert article["body"] == "third"


async def test_concurrent_puts_with_the_same_if_match_exactly_one_wins(client, users, articles):
    alice = await users.make()
    for round_ in range(3):
        title = f"Race {round_}"
        slug = (await articles.make(alice, title=title))["slug"]
        tag = await etag_of(client, f"/api/articles/{slug}", alice.headers)
        edits = [
            {"article": {"body": f"editor {n}"}}
            if n % 2
            else {"article": {"title": f"{title} {n}"}}
            for n in range(4)
        ]
        responses = await asyncio.gather(
            *(
                client.put(
                    f"/api/articles/{slug}", json=edit, headers={**alice.headers, "If-Match": tag}
                )
                for edit in edits
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412, 412, 412], statuses
        winner = next(r for r in responses if r.status_code == 200)
        won = (await winner.get_json())["article"]
        current = await client.get(f"/api/articles/{won['slug']}", headers=alice.headers)
        assert current.headers["ETag"] == winner.headers["ETag"]
        assert (await current.get_json())["article"] == won


async def test_openapi_lists_the_conditional_headers_and_statuses(client):
    document = await (await client.get("/openapi.json")).get_json()
    paths = document["paths"]

    def header_params(operation):
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}

    reads = [
        paths["/api/articles"]["get"],
        paths["/api/articles/feed"]["get"],
        paths["/api/articles/{slug}"]["get"],
        paths["/api/articles/{slug}/comments"]["get"],
        paths["/api/profiles/{username}"]["get"],
        paths["/api/tags"]["get"],
    ]
    for operation in reads:
        assert "If-None-Match" in header_params(operation)
        assert {"ETag", "Cache-Control"} <= set(operation["responses"]["200"]["headers"])
        assert "304" in operation["responses"]
        assert "ETag" in operation["responses"]["304"]["headers"]
    put = paths["/api/articles/{slug}"]["put"]
    assert "If-Match" in header_params(put)
    assert "ETag" in put["responses"]["200"]["headers"]
    assert put["responses"]["412"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    for path in ("/api/articles/{slug}", "/api/articles/{slug}/comments"):
        moved = paths[path]["get"]["responses"]["301"]
        assert "Location" in moved["headers"]
        assert "application/json" in moved["content"]


async def test_browsers_on_another_origin_may_use_the_headers(app_with):
    """A web front end on an allowed origin reads ETag and sends If-Match / If-None-Match."""
    app = await app_with(cors_origins=["https://app.example"])
    client = app.test_client()
    origin = {"Origin": "https://app.example"}
    preflight = await client.options(
        "/api/articles/some-slug",
        headers={
            **origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match",
        },
    )
    assert "if-match" in preflight.headers["Access-Control-Allow-Headers"].lower()
    preflight = await client.options(
        "/api/tags",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match",
        },
    )
    assert "if-none-match" in preflight.headers["Access-Control-Allow-Headers"].lower()
    response = await client.get("/api/tags", headers=origin)
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert {"etag", "location"} <= {name.strip() for name in exposed.split(",")}

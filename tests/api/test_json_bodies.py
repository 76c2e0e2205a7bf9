"""Whatever bytes a client sends as a JSON body, every JSON endpoint answers from the contract:
422 under `body` for what is not JSON, the field's key for what a field cannot hold."""

from __future__ import annotations

import json

from tests.helpers import error_of, raw_post

NOT_UTF8 = {
    "invalid UTF-8": b"\xff",
    "invalid UTF-8 inside a string": b'{"user": {"username": "a\xffb"}}',
    "UTF-16 with a BOM": json.dumps({"user": {"username": "x"}}).encode("utf-16"),
    "UTF-16 without a BOM": json.dumps({"user": {"username": "x"}}).encode("utf-16-le"),
}


async def _json_endpoints(client, users, articles):
    """Every route that reads a JSON body, each with credentials that get it to the body."""
    alice = await users.make()
    slug = (await articles.make(alice))["slug"]
    return [
        ("POST", "/api/users", {}),
        ("POST", "/api/users/login", {}),
        ("PUT", "/api/user", alice.headers),
        ("POST", f"/api/users/{alice.id}", alice.headers),
        ("PATCH", f"/api/users/{alice.id}", alice.headers),
        ("POST", "/api/articles", alice.headers),
        ("PUT", f"/api/articles/{slug}", alice.headers),
        ("POST", f"/api/articles/{slug}/comments", alice.headers),
    ]


async def test_a_body_that_is_not_utf8_is_422_on_every_json_endpoint(client, users, articles):
    for method, path, headers in await _json_endpoints(client, users, articles):
        for name, data in NOT_UTF8.items():
            response = await raw_post(client, path, data, headers=headers, method=method)
            errors = await error_of(response, 422)
            assert errors == {"body": ["is not valid JSON"]}, (method, path, name)


async def test_depth_past_the_parser_limit_says_nested_too_deeply(client):
    for depth in (33, 100, 1_000, 100_000):
        body = b"[" * depth + b"]" * depth
        response = await raw_post(client, "/api/users", body)
        assert await error_of(response, 422) == {
            "body": ["is nested too deeply (maximum depth is 32)"]
        }, depth
    # Brackets inside strings are text, not nesting; a malformed shallow body stays malformed.
    shallow = b'{"user": {"username": "' + b"[" * 5000 + b'"'
    response = await raw_post(client, "/api/users", shallow)
    assert await error_of(response, 422) == {"body": ["is not valid JSON"]}


async def test_nul_is_refused_under_the_field_that_holds_it(client, users, articles):
    user = {"username": "a\x00b", "email": "nul@example.com", "password": "long enough"}
    response = await client.post("/api/users", json={"user": user})
    assert await error_of(response, 422) == {"username": ["must not contain NUL characters"]}
    alice = await users.make()
    article = {"title": "T", "description": "D", "body": "B", "tagList": ["ok", "n\x00l"]}
    response = await client.post("/api/articles", json={"article": article}, headers=alice.headers)
    assert await error_of(response, 422) == {"tagList": ["must not contain NUL characters"]}
    response = await client.post("/api/users", json={"user": {"a\x00": 1}})
    assert await error_of(response, 422) == {"user": ["must not contain NUL characters"]}

"""One error style: every message comes from one vocabulary (the Conduit style, never a
library's own text), under the key of the field at fault, or of the resource for a 403."""

from __future__ import annotations

import re

from tests.helpers import error_of, raw_post

# Every 422 message the API may give, as the contract's short phrases.
VOCABULARY = [
    r"can't be blank",
    r"can't be repeated",
    r"can't contain blank tags",
    r"can't contain whitespace, '/' or control characters",
    r"is invalid",
    r"is not valid JSON",
    r"is not one of the allowed values",
    r"is nested too deeply \(maximum depth is \d+\)",
    r"is too long \(maximum is \d+ (characters|items)\)",
    r"is too long \(maximum is \d+ characters once case-folded\)",
    r"is too short \(minimum is \d+ (characters|items)\)",
    r"must be (a string|a list|an object|an integer|true or false)",
    r"must be (greater|less) than( or equal to)? \d+",
    r"must be an http or https URL",
    r"must not contain NUL characters",
]


def _in_vocabulary(message: str) -> bool:
    return any(re.fullmatch(pattern, message) for pattern in VOCABULARY)


def _article(**fields):
    return {"article": {"title": "T", "description": "d", "body": "b", **fields}}


async def test_every_validation_message_is_from_the_vocabulary(client, users, articles):
    alice, admin = await users.make(), await users.admin()
    slug = (await articles.make(alice))["slug"]
    cases = [
        ("POST", "/api/articles", _article(tagList=[str(n) for n in range(21)]), alice),
        ("POST", "/api/articles", _article(tagList=[1]), alice),
        ("POST", "/api/articles", _article(tagList={"a": 1}), alice),
        ("POST", "/api/articles", _article(title=["x"]), alice),
        ("POST", "/api/articles", _article(title="t" * 300), alice),
        ("POST", "/api/articles", {"article": []}, alice),
        ("POST", "/api/articles", [], alice),
        ("POST", "/api/articles", "just a string", alice),
        ("PUT", f"/api/articles/{slug}", {"article": {"tagList": [None]}}, alice),
        ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": 5}}, alice),
        ("POST", "/api/users", {"user": {"username": "a b", "email": "x", "password": 1}}, None),
        ("POST", "/api/users", {"user": {"username": "", "email": "", "password": ""}}, None),
        ("POST", "/api/users/login", {"user": {"email": True, "password": None}}, None),
        ("PUT", "/api/user", {"user": {"bio": 1, "image": False, "email": "@"}}, alice),
        ("PATCH", f"/api/users/{alice.id}", {"user": {"role": "root"}}, admin),
        ("PATCH", f"/api/users/{alice.id}", {"user": {"role": 1}}, admin),
    ]
    queries = [
        ("/api/articles?limit=0", None),
        ("/api/articles?limit=101&offset=-1", None),
        ("/api/articles?limit=ten", None),
        ("/api/articles?limit=1.5", None),
        ("/api/articles?limit=99999999999999999999999", None),
        ("/api/articles?tag=" + "x" * 65, None),
        ("/api/articles?tag[]=x", None),
        ("/api/articles/feed?offset=x", alice),
        ("/api/users?q=&limit=x", admin),
    ]
    seen = []
    for method, path, body, user in cases:
        headers = user.headers if user else {}
        response = await client.open(path, method=method, json=body, headers=headers)
        seen.append((path, await error_of(response, 422)))
    for path, user in queries:
        response = await client.get(path, headers=user.headers if user else {})
        seen.append((path, await error_of(response, 422)))
    for path, errors in seen:
        for key, messages in errors.items():
            for message in messages:
                assert _in_vocabulary(message), (path, key, message)


async def test_the_named_cases_answer_in_the_vocabulary(client, users, articles):
    alice = await users.make()
    response = await client.post(
        "/api/articles",
        json=_article(tagList=[str(n) for n in range(21)]),
        headers=alice.headers,
    )
    assert await error_of(response, 422) == {"tagList": ["is too long (maximum is 20 items)"]}
    body = b"[" * 100_000 + b"]" * 100_000
    response = await raw_post(client, "/api/articles", body, headers=alice.headers)
    assert await error_of(response, 422) == {"body": ["is nested too deeply (maximum depth is 32)"]}


async def test_a_repeated_query_parameter_is_refused_under_its_name(client, users):
    alice, admin = await users.make(), await users.admin()
    for path, user in [
        ("/api/articles?limit=1&limit=2", None),
        ("/api/articles?tag=a&tag=b", None),
        ("/api/articles/feed?offset=0&offset=0", alice),
        ("/api/users?q=a&q=b", admin),
    ]:
        response = await client.get(path, headers=user.headers if user else {})
        name = path.rsplit("&", 1)[1].split("=")[0]
        assert await error_of(response, 422) == {name: ["can't be repeated"]}, path


async def test_a_non_admin_setting_a_role_is_403_under_the_resource(client, users):
    alice = await users.make()
    for role in ("admin", "user"):
        response = await client.patch(
            f"/api/users/{alice.id}", headers=alice.headers, json={"user": {"role": role}}
        )
        assert await error_of(response, 403) == {"user": ["forbidden"]}

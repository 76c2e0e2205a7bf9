"""/openapi.json tells the truth and reads as a manual: every route, every answer it can give
with its content type and examples, the constraints the server enforces. The fuzz run
(tests/fuzz, `make fuzz`) checks the same document against a live server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from quart import Quart
from quart_schema.openapi import QUART_SCHEMA_HIDDEN_ATTRIBUTE

from service.routes.openapi import INTERNAL, TIMED_OUT
from tests.helpers import error_of

METHODS = {"get", "post", "put", "patch", "delete"}
HIDDEN = {"static", "openapi", "docs.page", "docs.asset"}


@pytest.fixture
async def document(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def braced(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]*:)?([^<>]+)>", r"{\1}", rule)


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


async def test_document_is_valid_and_lists_every_route(app: Quart, document):
    validate(document)
    documented = {(path, method.upper()) for path, method, _ in operations(document)}
    routes = {
        (braced(rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    hidden = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], QUART_SCHEMA_HIDDEN_ATTRIBUTE, False)
    }
    assert hidden == HIDDEN  # the docs themselves, nothing of the API
    hidden_routes = {
        (braced(rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint in HIDDEN
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes - hidden_routes


async def test_every_operation_reads_as_a_manual(document):
    """Summary, description, tag and examples everywhere, so /docs explains each operation."""
    gaps = []
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        for key in ("summary", "description", "tags", "operationId"):
            if not operation.get(key):
                gaps.append(f"{where}: no {key} (a docstring: summary line, blank line, text)")
        for parameter in operation["parameters"]:
            if "example" not in parameter:
                gaps.append(f"{where}: parameter {parameter['name']} has no example")
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if not media.get("examples"):
                gaps.append(f"{where}: no request example ({media_type}): schemas/examples.py")
        for status, response in operation["responses"].items():
            if not response.get("description"):
                gaps.append(f"{where} {status}: no description")
            for media_type, media in response.get("content", {}).items():
                if media_type == "application/json" and not media.get("examples"):
                    gaps.append(f"{where} {status}: no example: schemas/examples.py")
    assert not gaps, "\n".join(gaps)


async def test_request_bodies_are_required(document):
    optional = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(document)
        if "requestBody" in operation and not operation["requestBody"].get("required")
    ]
    # The sign-out forms are optional: their CSRF token may come as a header instead.
    assert optional == ["POST /logout", "POST /logout-all"]


async def test_every_answer_is_documented_with_its_content_type_and_headers(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert not {"4XX", "5XX", "default"} & set(responses), where  # each status named
        assert any(code.startswith(("2", "3")) for code in responses), where
        for code in ("500", "503"):
            assert code in responses, (where, code)
        for code, response in responses.items():
            headers = response["headers"]
            assert "X-Request-ID" in headers, (where, code)
            if code in ("429", "503"):
                assert "Retry-After" in headers, (where, code)
            if code.startswith(("4", "5")):
                error = response["content"].get("application/json")
                if error is not None:
                    assert resolve(document, error["schema"])["required"] == ["errors"]


def statuses(document: dict[str, Any], method: str, path: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


async def test_statuses_follow_from_how_each_route_is_built(document):
    for path, method, operation in operations(document):
        codes = set(operation["responses"])
        where = f"{method.upper()} {path}"
        if operation.get("security"):
            assert "401" in codes, where
            if method != "get":
                assert "403" in codes, where  # a cookie write without its CSRF token
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert {"413", "415", "422"} <= codes, where
    assert statuses(document, "post", "/api/users") >= {"201", "409", "422", "503"}
    assert statuses(document, "post", "/api/users/login") >= {"200", "401", "429", "503"}
    assert statuses(document, "put", "/api/articles/{slug}") >= {"403", "404", "422"}
    assert statuses(document, "delete", "/api/articles/{slug}") >= {"204", "403", "404"}
    assert "422" in statuses(document, "get", "/api/articles")  # its query
    assert statuses(document, "get", "/api/tags") == {"200", "304", "500", "503"}


async def test_pages_health_and_metrics_say_what_they_answer(document):
    def media(path: str, method: str, code: str) -> set[str]:
        return set(document["paths"][path][method]["responses"][code].get("content", {}))

    assert media("/healthz", "get", "200") == {"application/json"}
    assert media("/readyz", "get", "503") == {"application/json"}
    assert media("/metrics", "get", "200") == {"text/plain"}
    assert media("/login", "get", "200") == {"text/html"}
    assert statuses(document, "post", "/login") >= {"303", "401", "403", "429", "503"}
    assert media("/login", "post", "401") == {"text/html"}
    assert media("/login", "post", "503") == {"text/html", "application/json"}  # busy, deadline
    login = document["paths"]["/login"]["post"]["responses"]["303"]["headers"]
    assert {"Location", "Set-Cookie"} <= set(login)
    assert media("/account", "get", "200") == {"text/html"}
    assert media("/logout", "post", "403") == {"application/json"}


async def test_documented_errors_are_the_ones_sent(client, users, document):
    """Examples of the generic answers, against what the server sends for them."""
    missing = await client.get("/api/user")
    assert await error_of(missing, 401) == {"token": ["is missing"]}
    user = await users.make()
    not_json = await client.put("/api/user", headers=user.headers, data="x")
    assert await error_of(not_json, 415) == {
        "body": ["must be JSON (Content-Type: application/json)"]
    }

    def examples(path: str, method: str, code: str) -> list[Any]:
        media = document["paths"][path][method]["responses"][code]["content"]["application/json"]
        return [example["value"] for example in media["examples"].values()]

    assert {"errors": {"token": ["is missing"]}} in examples("/api/user", "get", "401")
    assert {"errors": {"body": ["must be JSON (Content-Type: application/json)"]}} in examples(
        "/api/user", "put", "415"
    )
    assert TIMED_OUT.body in examples("/api/user", "get", "503")
    assert INTERNAL.body in examples("/api/user", "get", "500")


@pytest.mark.parametrize(
    ("model", "field", "expected"),
    [
        ("UserChanges", "username", {"type": "string"}),  # left out or a name, never null
        ("UserChanges", "password", {"type": "string"}),
        ("ArticleChanges", "title", {"type": "string"}),
        ("ArticleChanges", "tagList", {"type": "array"}),
    ],
)
async def test_fields_that_may_be_left_out_are_not_nullable(document, model, field, expected):
    schema = document["components"]["schemas"][model]["properties"][field]
    assert "anyOf" not in schema
    assert expected.items() <= schema.items()


async def test_bio_and_image_may_be_null(document):
    for field in ("bio", "image"):
        schema = document["components"]["schemas"]["UserChanges"]["properties"][field]
        assert {"type": "null"} in schema["anyOf"]


async def test_request_strings_refuse_nul_and_blank_where_the_server_does(document):
    schemas = document["components"]["schemas"]
    new_article = schemas["NewArticle"]["properties"]
    assert re.fullmatch(new_article["title"]["pattern"], "   ") is None
    assert re.fullmatch(new_article["tagList"]["items"]["pattern"], " \t") is None
    assert re.fullmatch(new_article["body"]["pattern"], "a\x00b") is None
    assert re.fullmatch(new_article["body"]["pattern"], "   ")  # a body may be blank
    assert schemas["NewArticle"]["propertyNames"]["pattern"] == r"^[^\x00]*$"
    username = schemas["NewUser"]["properties"]["username"]
    assert username["format"] == "username"
    assert re.fullmatch(username["pattern"], "jake doe") is None
    assert re.fullmatch(username["pattern"], "jake/doe") is None
    image = schemas["UserChanges"]["properties"]["image"]["anyOf"][0]
    assert re.fullmatch(image["pattern"], "javascript:alert(1)") is None
    assert re.fullmatch(image["pattern"], "HTTPS://example.com/a.png")
    assert re.fullmatch(image["pattern"], "https://example.com/\x85") is None  # C1 control
    assert image["format"] == "http-url"  # the rest of the rule: tests/fuzz/hooks.py
    query = document["paths"]["/api/articles"]["get"]["parameters"]
    tag = next(p for p in query if p["name"] == "tag")
    assert re.fullmatch(tag["schema"]["anyOf"][0]["pattern"], "a\x00") is None
    # The sign-in page takes any `next` (a bad one is ignored), so nothing is refused there.
    page = document["paths"]["/login"]["get"]["parameters"]
    assert all("pattern" not in str(p["schema"]) for p in page)

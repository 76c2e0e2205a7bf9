"""The OpenAPI document: quart-schema's, completed so that it says everything a route answers.

quart-schema documents the request and response models. This provider adds what they cannot say:

- request bodies are required, and every string a JSON body or a query brings refuses NUL
  (`routes.validation`), as do the names of extra properties, which are otherwise ignored;
- the error answers of each operation, in the one `{"errors": {...}}` shape, with examples:
  401 for credentials, 403 for a cookie-authenticated write without its CSRF token, 413, 415
  and 422 for a JSON body, 422 for a query, 500 and 503 for all (read from how the route is
  built), and the domain errors declared beside the route (`routes.apidoc.errors`);
- answers that are not JSON models (pages, redirects, metrics: `routes.apidoc.answers`);
- `X-Request-ID` on every answer, `Retry-After` on 429 and 503;
- examples of every request and response body and of the parameters (`schemas.examples`).
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import quart_schema.openapi
from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE, DataSource
from werkzeug.routing import BaseConverter, Rule

from service.deadline import RequestTimedOut
from service.errors import CsrfFailed, Invalid, TokenInvalid, TokenMissing
from service.routes import conditional
from service.routes.apidoc import ErrorDoc, declared_answers, declared_errors, uses_database
from service.routes.validation import NUL_FREE_ATTRIBUTE, IdConverter, UnsupportedMediaType
from service.schemas.base import NO_NUL, ErrorBody
from service.schemas.examples import PARAMETERS, REQUESTS, RESPONSES

# quart-schema's pattern runs across `>` and joins two parameters of one path into one:
# /api/articles/<slug>/comments/<id:comment_id> came out as /api/articles/{comment_id}.
quart_schema.openapi.PATH_RE = re.compile(r"<(?:[^:<>]*:)?([^<>]+)>")

SCHEMAS = "#/components/schemas/"
ERROR_REF = {"$ref": SCHEMAS + "ErrorBody"}
JSON_VALUE_REF = {"$ref": SCHEMAS + "JsonValue"}
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})

INTRO = """\
User accounts and the Conduit API (profiles, follows, articles, the feed, favourites, comments,
tags), with the service's operations endpoints and its sign-in pages.

**JSON in and out.** Request bodies are `application/json` (UTF-8, at most 1 MiB, nested at most
32 deep, no NUL character in any string); every payload is wrapped in one key (`user`,
`article`, ...). Keys are camelCase. Timestamps are UTC with milliseconds, e.g.
`2026-11-25T09:30:12.345Z`.

**Credentials.** Send `Authorization: Token <jwt>` (or `Bearer <jwt>`); the token comes back as
`user.token` from registration and login, beside `user.refreshToken`, which
`POST /api/users/refresh` trades for a new token and refresh token (once: a second use revokes
that sign-in). Each operation says whether it needs the token
or takes it optionally (it then only sets `following` and `favorited`); a token that is sent
must be valid either way. A browser signed in on `/login` may instead use its session
cookie, and then sends its CSRF token in `X-CSRF-Token` with every request that changes
something.

**Errors.** Every error has one shape, `{"errors": {"<key>": ["message", ...]}}`: the key is the
field at fault for 409 and 422, `token` or `credentials` for 401, the resource for 403 and 404,
`body` for a body that is not JSON, too large or malformed, `request` for a deadline or a busy
server, `service` for a database that cannot be used now. 429 and 503 carry `Retry-After`
(seconds). Every answer carries `X-Request-ID`: quote it when something goes wrong.

**Caching and versions.** Reads answer an `ETag` and `Cache-Control`; send the tag back in
`If-None-Match` for a 304 without a body while it is current. An article's update takes the
tag in `If-Match` and answers 412 if someone changed the article meanwhile. An old slug of a
renamed article answers 301 to the current one.

**Safe retries.** The POSTs that create something take an optional `Idempotency-Key`: a retry
with the same key and body gets the first answer again (`Idempotent-Replayed: true`) instead
of creating a second one.
"""

TAGS = [
    {"name": "accounts", "description": "Registration, login, the current user; accounts admin"},
    {"name": "profiles", "description": "Public profiles and follows"},
    {"name": "articles", "description": "Articles, lists, the feed"},
    {"name": "favorites", "description": "Favouriting articles"},
    {"name": "comments", "description": "Comments on articles"},
    {"name": "tags", "description": "Tags in use"},
    {"name": "admin", "description": "Admins only: the audit log"},
    {"name": "webhooks", "description": "Signed notifications of site events (admins)"},
    {"name": "operations", "description": "Liveness, readiness and metrics"},
    {"name": "pages", "description": "The front door, the browser pages (HTML), the favicon"},
]

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one sent in `X-Request-ID` (letters, digits and "
        "`._:-`, up to 128), else a new one. Logged with every line about the request.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    },
    "Location": {
        "description": "Where the browser goes next.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Set-Cookie": {
        "description": "The signed session cookie `conduit_session` (HttpOnly, SameSite=Lax).",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key`: nothing was done again. Absent on a first answer.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
# On a status whose other answers carry no Retry-After (409: only for an Idempotency-Key in use).
SOMETIMES_RETRY_AFTER = {
    "description": "Seconds to wait before trying again, with the answers that say to.",
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}

JSON_VALUE = {
    "description": "Any JSON value without NUL in its strings or names (extra properties of a "
    "request body are ignored, but checked like the rest of it).",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": JSON_VALUE_REF},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": JSON_VALUE_REF,
        },
    ],
}

STATUS_TEXT = {
    200: "OK.",
    201: "Created.",
    204: "Done; no content.",
    301: "Moved permanently: a redirect.",
    303: "See other: a redirect.",
    304: "Not modified; no body.",
    400: "Bad request.",
    401: "Unauthorized: no valid credentials.",
    403: "Forbidden: the caller may not do this.",
    404: "Not found.",
    409: "Conflict.",
    412: "Precondition failed.",
    413: "Payload too large.",
    415: "Unsupported media type.",
    422: "Unprocessable: a field, parameter or the body is invalid.",
    429: "Too many requests: wait `Retry-After` seconds.",
    500: "An unexpected failure, logged with the request id; nothing internal is shown.",
    503: "Unavailable for now: try again after `Retry-After` seconds.",
}
RETRY_STATUSES = (429, 503)

TOKEN_INVALID = ErrorDoc.of(
    TokenInvalid,
    "the Authorization header is malformed, or its token is expired, forged, or for a deleted user",
)
TOKEN_MISSING = ErrorDoc.of(TokenMissing, "neither a token nor a signed-in session cookie")
CSRF = ErrorDoc.of(
    CsrfFailed, "signed in by cookie, but `X-CSRF-Token` is missing or does not match"
)
TOO_LARGE = ErrorDoc(413, "body", "is too large", "the body exceeds MAX_BODY_BYTES")
NOT_JSON = ErrorDoc.of(UnsupportedMediaType, "the Content-Type is not application/json")
BAD_JSON = ErrorDoc.of(Invalid("body", "is not valid JSON"), "the body does not parse")
NUL_BODY = ErrorDoc.of(
    Invalid("body", "must not contain NUL characters"), "a string in the body holds U+0000"
)
TIMED_OUT = ErrorDoc.of(
    RequestTimedOut(), "the request passed its deadline (REQUEST_TIMEOUT_SECONDS)"
)
INTERNAL = ErrorDoc(
    500, "server", "internal error; quote request id 3f2a9c0e5b7d4e1fa6c8d9b0e1f2a3b4"
)
DATABASE_DOWN = ErrorDoc(
    503,
    "service",
    "unavailable, try again later; quote request id 3f2a9c0e5b7d4e1fa6c8d9b0e1f2a3b4",
    "the database cannot be reached, is shutting down or out of connections, or would not "
    "finish a statement or get a lock in time; the request's writes are rolled back",
)


def field_error(model: type[BaseModel]) -> ErrorDoc:
    """A 422 for the first required field of a body model (found through its envelope)."""

    def first(current: type[BaseModel]) -> str | None:
        for name, info in current.model_fields.items():
            if info.is_required():
                inner = info.annotation
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    return first(inner) or info.alias or name
                return info.alias or name
        return None

    return ErrorDoc(422, first(model) or "body", "can't be blank", "a field is missing or invalid")


def query_error(parameters: list[dict[str, Any]]) -> list[ErrorDoc]:
    query = {p["name"]: p for p in parameters if p.get("in") == "query"}
    names = list(query)
    docs = []
    if "limit" in names:
        bounds = query["limit"]["schema"]
        low, high = bounds.get("minimum", 1), bounds.get("maximum", 100)
        docs.append(
            ErrorDoc(422, "limit", f"must be less than or equal to {high}", f"{low} to {high}")
        )
    if "offset" in names:
        docs.append(ErrorDoc(422, "offset", "must be greater than or equal to 0", ""))
    texts = [name for name in names if name not in ("limit", "offset")]
    docs += [ErrorDoc(422, name, "must not contain NUL characters", "") for name in texts[:1]]
    return docs


class ServiceOpenAPIProvider(OpenAPIProvider):
    def schema(self) -> dict[str, Any]:
        document = super().schema()
        document["info"]["description"] = INTRO
        document["tags"] = TAGS
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=SCHEMAS + "{model}")
        schemas["JsonValue"] = JSON_VALUE
        components["headers"] = HEADERS
        components["securitySchemes"]["Token"]["description"] = (
            "`Token <jwt>` (or `Bearer <jwt>`) with the token from registration or login."
        )
        nul_free = _NulFree(schemas)
        for path_item in document["paths"].values():
            for operation in path_item.values():
                if operation.pop(NUL_FREE_ATTRIBUTE, False):
                    nul_free.request(operation)
        return document

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IdConverter):
            parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}
        else:
            parameter["schema"] = {"type": "string", "minLength": 1}
        return parameter

    def build_request_body(
        self, model: type[Any], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        body, definitions = super().build_request_body(model, source)
        # Required unless the model has nothing required (the sign-out form: a header will do).
        body["required"] = any(info.is_required() for info in model.model_fields.values())
        for media in body["content"].values():
            if model in REQUESTS:
                media["examples"] = copy.deepcopy(REQUESTS[model])
        return body, definitions

    def build_response_object(
        self, model: type[Any], headers_model: type[Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, definitions = super().build_response_object(model, headers_model)
        if model in RESPONSES:
            response["content"]["application/json"]["examples"] = copy.deepcopy(RESPONSES[model])
        return response, definitions

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        conditional.document(func, paths)  # ETag, If-None-Match, If-Match, 301, 304, 412
        for item in paths.values():
            for method in list(item):
                # quart-schema shares one operation between a rule's methods: copy it first.
                item[method] = complete(
                    copy.deepcopy(item[method]), method, func, self._app.config["MAX_JSON_DEPTH"]
                )
        return paths, components


def complete(
    operation: dict[str, Any], method: str, func: Callable[..., Any], max_depth: int
) -> dict[str, Any]:
    """Every answer of one operation, with examples and headers (see the module's docstring)."""
    security = operation.get("security")
    auth = AUTH_NONE if not security else AUTH_OPTIONAL if {} in security else AUTH_REQUIRED
    operation["description"] = f"{operation.get('description', '')}\n\n{auth}".strip()
    responses: dict[str, Any] = {str(code): value for code, value in operation["responses"].items()}
    for code, response in responses.items():
        if not response.get("description"):
            response["description"] = STATUS_TEXT.get(int(code), "")
    for answer in declared_answers(func):
        response = responses.setdefault(
            str(answer.status), {"description": STATUS_TEXT.get(answer.status, "")}
        )
        if answer.description:
            response["description"] = answer.description
        if answer.media_type is not None:
            media: dict[str, Any] = {"schema": answer.schema}
            if answer.example is not None:
                media["example"] = answer.example
            response.setdefault("content", {})[answer.media_type] = media
        for name in answer.headers:
            response.setdefault("headers", {})[name] = {"$ref": "#/components/headers/" + name}

    by_status: dict[int, list[ErrorDoc]] = defaultdict(list)
    for doc in operation_errors(operation, method, func, max_depth):
        if doc not in by_status[doc.status]:
            by_status[doc.status].append(doc)
    for status, docs in sorted(by_status.items()):
        response = responses.setdefault(str(status), {"description": STATUS_TEXT.get(status, "")})
        reasons = "\n".join(
            f"- `{doc.key}` {doc.message}" + (f": {doc.when}" if doc.when else "") for doc in docs
        )
        response["description"] = f"{response['description']}\n\n{reasons}".strip()
        response.setdefault("content", {})["application/json"] = {
            "schema": ERROR_REF,
            "examples": {
                f"{doc.key}-{index}": {"summary": f"{doc.key} {doc.message}", "value": doc.body}
                for index, doc in enumerate(docs, 1)
            },
        }

    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
        if int(code) in RETRY_STATUSES:
            headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        elif any(doc.retry_after for doc in by_status.get(int(code), ())):
            headers["Retry-After"] = SOMETIMES_RETRY_AFTER  # e.g. 409 for a key in use
    operation["responses"] = dict(sorted(responses.items()))

    for parameter in operation["parameters"]:
        if parameter["name"] in PARAMETERS:
            parameter["example"] = PARAMETERS[parameter["name"]]
        if parameter["in"] == "path":
            parameter.setdefault("description", PATH_DESCRIPTIONS.get(parameter["name"], ""))
    if getattr(func, NUL_FREE_ATTRIBUTE, False):
        operation[NUL_FREE_ATTRIBUTE] = True  # read (and removed) by the provider's schema()
    return operation


AUTH_REQUIRED = "**Credentials:** a token (or a signed-in session) is required."
AUTH_OPTIONAL = "**Credentials:** optional; a token that is sent must be valid."
AUTH_NONE = "**Credentials:** none."

PATH_DESCRIPTIONS = {
    "slug": "The article's slug",
    "username": "A username, in any letter case",
    "user_id": "An account's id",
    "comment_id": "A comment's id",
    "webhook_id": "A webhook's id",
}


def operation_errors(
    operation: dict[str, Any], method: str, func: Callable[..., Any], max_depth: int
) -> Iterator[ErrorDoc]:
    """The errors this operation can answer: from how the route is built, then its own."""
    security = operation.get("security")
    if security:
        if {} not in security:
            yield TOKEN_MISSING
        yield TOKEN_INVALID
        if method in UNSAFE_METHODS:
            yield CSRF
    body = operation.get("requestBody", {}).get("content", {})
    if body:  # a JSON body or a form, read whole
        yield TOO_LARGE
    if "application/json" in body:
        yield NOT_JSON
        yield BAD_JSON
        yield NUL_BODY
        yield ErrorDoc(
            422,
            "body",
            f"is nested too deeply (maximum depth is {max_depth})",
            "arrays and objects nested past MAX_JSON_DEPTH",
        )
        model = getattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE)[0]
        yield field_error(model)
    if any(p["in"] == "query" for p in operation["parameters"]) and getattr(
        func, NUL_FREE_ATTRIBUTE, False
    ):
        yield from query_error(operation["parameters"])
    yield from declared_errors(func)
    yield INTERNAL
    if uses_database(func):
        yield DATABASE_DOWN
    yield TIMED_OUT


class _NulFree:
    """Marks every string of a request (body and query) as free of NUL, as the server checks."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.seen: set[str] = set()

    def request(self, operation: dict[str, Any]) -> None:
        for media in operation.get("requestBody", {}).get("content", {}).values():
            self.walk(media["schema"], body=True)
        for parameter in operation["parameters"]:
            if parameter["in"] == "query":
                self.walk(parameter["schema"], body=False)

    def walk(self, schema: dict[str, Any], *, body: bool) -> None:
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.removeprefix(SCHEMAS)
            if name not in self.seen and name in self.schemas:
                self.seen.add(name)
                self.walk(self.schemas[name], body=body)
            return
        if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
            schema.setdefault("pattern", NO_NUL)
        if schema.get("type") == "object" and body:
            schema.setdefault("propertyNames", {"pattern": NO_NUL})
            schema.setdefault("additionalProperties", JSON_VALUE_REF)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for part in schema.get(key, []):
                self.walk(part, body=body)
        for part in schema.get("properties", {}).values():
            self.walk(part, body=body)
        if isinstance(schema.get("items"), dict):
            self.walk(schema["items"], body=body)

"""Conditional requests: ETags, If-None-Match (304), Cache-Control, If-Match (412).

An ETag is a hash of the exact bytes of the body the caller gets: strong (same bytes, same
tag), costs no query, and is personal exactly where the body is (a caller's `following` or
`favorited` flag is in the bytes). A body that another caller would see alike gets the same
tag, which is right: the tag names the bytes, not the caller, and personal answers are
`private`, so no shared cache stores them.

A 304 is answered after the handler has run its queries: it saves the client the body and
the bandwidth, not the server its work. If-Match compares the same tag, computed from the
article as the writer sees it, read after its row is locked in the writing transaction (see
`services.articles.update`), so two editors holding one version cannot both write.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from quart import Response, request

from service.errors import PreconditionFailed
from service.jsonio import dumps

JSON = dict[str, Any]
V = TypeVar("V")
Route = Callable[..., Awaitable[Response]]

# Personalised reads: any cache may keep them for this caller only, and must ask again
# (If-None-Match) before reusing them.
PERSONAL = "private, no-cache"
# GET /api/tags is the same for everyone and changes rarely: shared caches may keep it a
# few seconds (on top of the server's own TAGS_CACHE_SECONDS).
TAGS_MAX_AGE_SECONDS = 5
SHARED_BRIEFLY = f"public, max-age={TAGS_MAX_AGE_SECONDS}"

# Read by `document` for /openapi.json.
_READ_ATTRIBUTE = "_conditional_read"
_WRITE_ATTRIBUTE = "_conditional_write"


def etag_for(body: bytes) -> str:
    """The tag of these bytes, unquoted: 144 bits of BLAKE2b, URL-safe base64."""
    digest = hashlib.blake2b(body, digest_size=18).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _not_modified(tag: str, cache_control: str) -> Response:
    response = Response(b"", status=304)
    for name in ("Content-Type", "Content-Length"):
        response.headers.pop(name, None)
    response.set_etag(tag)
    response.headers["Cache-Control"] = cache_control
    return response


def cacheable(cache_control: str) -> Callable[[Route], Route]:
    """A GET whose 200 carries an ETag and `cache_control`, and answers 304 (no body) when
    If-None-Match names its tag (weak comparison, `*` included). Other answers (a 301) get
    `cache_control` and no tag; errors pass through untouched. Goes just outside `responds`."""

    def decorator(func: Route) -> Route:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            response = await func(*args, **kwargs)
            response.headers["Cache-Control"] = cache_control
            if response.status_code != 200:
                return response
            tag = etag_for(await response.get_data(as_text=False))
            if request.if_none_match.contains_weak(tag):
                return _not_modified(tag, cache_control)
            response.set_etag(tag)
            return response

        setattr(wrapper, _READ_ATTRIBUTE, cache_control)
        return wrapper

    return decorator


def versioned(func: Route) -> Route:
    """A write whose 200 carries the ETag of what it answers (the next If-Match to send) and
    which honours If-Match (see `if_match`). Goes just outside `responds`."""

    @wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        response = await func(*args, **kwargs)
        if response.status_code == 200:
            response.set_etag(etag_for(await response.get_data(as_text=False)))
        return response

    setattr(wrapper, _WRITE_ATTRIBUTE, True)
    return wrapper


def if_match(
    build: Callable[[V], JSON], refused: type[PreconditionFailed]
) -> Callable[[V], None] | None:
    """The request's If-Match as a check for the service to run on the current version, which
    `build` turns into the body a GET would answer; None without the header (no condition,
    as before). Strong comparison: a weak tag never matches, `*` matches any version. An
    empty or unparsable header matches nothing."""
    if "If-Match" not in request.headers:
        return None
    sent = request.if_match

    def check(current: V) -> None:
        if not sent.contains(etag_for(dumps(build(current)))):
            raise refused()

    return check


# /openapi.json

_ERROR = {
    "description": "Precondition failed: the version named by If-Match is not the current one",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}
_TAG_SCHEMA = {"type": "string", "examples": ['"q1Wk3fZx0mC8a3zvKQvYbW1n"']}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": _TAG_SCHEMA,
    }


def _with_headers(response: dict[str, Any], headers: dict[str, Any]) -> dict[str, Any]:
    return {**response, "headers": {**response.get("headers", {}), **headers}}


def _ok_key(responses: dict[Any, Any]) -> Any:
    return next(code for code in responses if str(code) == "200")


def document(func: Callable[..., Any], paths: dict[str, dict[str, Any]]) -> None:
    """Add the conditional headers and statuses of `func`'s routes to their operations."""
    cache_control: str | None = getattr(func, _READ_ATTRIBUTE, None)
    writes = getattr(func, _WRITE_ATTRIBUTE, False)
    if cache_control is None and not writes:
        return
    etag = _header("Strong tag of this body; send it back in If-None-Match or If-Match")
    for item in paths.values():
        for method, operation in item.items():
            responses = dict(operation["responses"])
            parameters = list(operation["parameters"])
            ok = _ok_key(responses)
            if cache_control is not None:
                parameters.append(
                    _parameter(
                        "If-None-Match",
                        "ETags of the body the client holds: 304 with no body if one is current",
                    )
                )
                caching = _header(f"`{cache_control}`")
                responses[ok] = _with_headers(
                    responses[ok], {"ETag": etag, "Cache-Control": caching}
                )
                responses["304"] = {
                    "description": "Not modified: the body the client holds (If-None-Match) "
                    "is current; no body",
                    "headers": {"ETag": etag, "Cache-Control": caching},
                }
                moved = next((code for code in responses if str(code) == "301"), None)
                if moved is not None:
                    responses[moved] = {
                        **_with_headers(
                            responses[moved],
                            {
                                "Location": _header("The path under the article's current slug"),
                                "Cache-Control": caching,
                            },
                        ),
                        "description": "Moved: the slug is an old one of the article; the body "
                        "is what Location answers, for clients that do not follow redirects",
                    }
            if writes:
                parameters.append(
                    _parameter(
                        "If-Match",
                        "The ETag of the version the change is based on (from a GET with the "
                        "same token): 412 if it is no longer current; `*` for any version",
                    )
                )
                responses[ok] = _with_headers(responses[ok], {"ETag": etag})
                responses["412"] = _ERROR
            item[method] = {**operation, "parameters": parameters, "responses": responses}

"""Request parsing shared by the blueprints: JSON bodies and query strings through quart-schema,
with the contract's answers for what it lets through (415, 422 for bad JSON, NUL, depth)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from quart import Request, current_app, request
from quart_schema import validate_querystring, validate_request
from werkzeug.routing import BaseConverter

from service.errors import AppError, Invalid
from service.services.slugs import RESERVED

F = TypeVar("F", bound=Callable[..., Any])

# Set on routes whose JSON body or query goes through `check_json_value` or `query`: the
# OpenAPI document then says that none of their strings may hold NUL (routes.openapi).
NUL_FREE_ATTRIBUTE = "_service_refuses_nul"


class IdConverter(BaseConverter):
    """`<id:name>`: a row id in a path. Ids no row can have still match, so they answer 404
    from the lookup; werkzeug's `int(min=..)` would answer 405 for some methods instead."""

    regex = r"\d{1,18}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return str(value)


class ArticleSlugConverter(BaseConverter):
    """`<slug:name>`: the last segment of /api/articles/<slug:slug>, any but a fixed path there
    (`feed`, which no article's slug can be). So /api/articles/feed is the feed's alone: PUT
    and DELETE there are 405, and OPTIONS does not list them. The route template (metrics,
    access log) names the converter, as `<id:...>` does."""

    regex = rf"(?!(?:{'|'.join(re.escape(word) for word in sorted(RESERVED))})$)[^/]+"
    part_isolating = True


class UnsupportedMediaType(AppError):
    status = 415
    key = "body"
    message = "must be JSON (Content-Type: application/json)"


def too_deep(max_depth: int) -> Invalid:
    return Invalid("body", f"is nested too deeply (maximum depth is {max_depth})")


# A JSON string (escapes included; unterminated, to the end), and every byte that is not a bracket.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def nests_deeper_than(data: bytes, max_depth: int) -> bool:
    """Whether the brackets of `data` (outside strings) nest deeper than `max_depth`, read as far
    as they go: for a body the parser gave up on, which may be why it did."""
    depth = 0
    for byte in _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > max_depth:
            return True
    return False


class ApiRequest(Request):
    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed from its bytes. JSON is UTF-8 (RFC 8259): Quart would decode the body
        to text first, and a body in another encoding or with invalid bytes would fail there,
        outside the JSON error handling (a 500). orjson reads bytes and refuses those itself."""
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            return None
        data = await self.get_data(cache, False, False)  # bytes
        try:
            result = self.json_module.loads(data)
        except ValueError:
            if silent:
                result = None
            else:
                # The parser's own depth limit (far above ours) fails as "not valid JSON";
                # a body too deep answers the same whether it ends there or a level later.
                max_depth = current_app.config["MAX_JSON_DEPTH"]
                if nests_deeper_than(data, max_depth):
                    raise too_deep(max_depth) from None
                raise Invalid("body", "is not valid JSON") from None
        if cache:
            self._cached_json[silent] = result
        return result


def check_json_value(value: Any, max_depth: int) -> None:
    """Refuse what PostgreSQL cannot store (NUL in text), under the name of the field that holds
    it, and nesting deeper than allowed."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "body")]
    while stack:
        item, depth, field = stack.pop()
        if depth > max_depth:
            raise too_deep(max_depth)
        if isinstance(item, str):
            if "\x00" in item:
                raise Invalid(field, "must not contain NUL characters")
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth, field))  # a key is named by its object
                stack.append((child, depth + 1, key))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, field) for child in item)


def json_body(model: type[Any]) -> Callable[[F], F]:
    """Validate the JSON body into `model`, passed to the route as `data`."""

    def decorator(func: F) -> F:
        validated = validate_request(model)(func)

        @wraps(validated)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not request.is_json:
                raise UnsupportedMediaType()
            body = await request.get_json()
            check_json_value(body, current_app.config["MAX_JSON_DEPTH"])
            return await validated(*args, **kwargs)

        setattr(wrapper, NUL_FREE_ATTRIBUTE, True)
        return wrapper  # type: ignore[return-value]

    return decorator


def query(model: type[Any]) -> Callable[[F], F]:
    """Validate the query string into `model`, passed to the route as `query_args`."""

    def decorator(func: F) -> F:
        validated = validate_querystring(model)(func)

        @wraps(validated)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen: set[str] = set()
            for name, value in request.args.items(multi=True):
                if "\x00" in value:
                    raise Invalid(name, "must not contain NUL characters")
                # Each parameter holds one value; quart-schema would pass a repeat on as a
                # list, which would fail as "must be an integer" (or "a string").
                if name in seen:
                    raise Invalid(name, "can't be repeated")
                seen.add(name)
            return await validated(*args, **kwargs)

        setattr(wrapper, NUL_FREE_ATTRIBUTE, True)
        return wrapper  # type: ignore[return-value]

    return decorator

"""Request parsing shared by the blueprints: JSON bodies and query strings through quart-schema,
with the contract's answers for what it lets through (415, 422 for bad JSON, NUL, depth)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from quart import Request, current_app, request
from quart_schema import validate_querystring, validate_request
from werkzeug.routing import BaseConverter

from service.errors import AppError, Invalid

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


class UnsupportedMediaType(AppError):
    status = 415
    key = "body"
    message = "must be JSON (Content-Type: application/json)"


class ApiRequest(Request):
    def on_json_loading_failed(self, error: Exception | None) -> Any:
        raise Invalid("body", "is not valid JSON")


def check_json_value(value: Any, max_depth: int) -> None:
    """Refuse what PostgreSQL cannot store (NUL in text) and nesting deeper than allowed."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise Invalid("body", f"is nested too deeply (maximum depth is {max_depth})")
        if isinstance(item, str):
            if "\x00" in item:
                raise Invalid("body", "must not contain NUL characters")
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


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
            for name, value in request.args.items(multi=True):
                if "\x00" in value:
                    raise Invalid(name, "must not contain NUL characters")
            return await validated(*args, **kwargs)

        setattr(wrapper, NUL_FREE_ATTRIBUTE, True)
        return wrapper  # type: ignore[return-value]

    return decorator

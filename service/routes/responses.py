"""JSON responses of the API routes.

Handlers return plain dicts, built by the schema layer, and `responds` writes them with
orjson. The pydantic response model documents the body in /openapi.json and, where
VALIDATE_RESPONSES is on (development and testing), checks each body against it by a round
trip: validate strictly, dump, compare. A body that differs in a key, a type or a timestamp's format
fails the request with a 500, so the suite cannot pass on a body the documentation does not
describe. Production skips the check: building models per response costs a third of a list
request's time (bench/, README "Performance").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from quart import Response, current_app
from quart_schema import document_response

from service.jsonio import dumps, json_response
from service.schemas.base import Schema

JSON = dict[str, Any]
Handler = Callable[..., Awaitable[JSON]]


class ResponseSchemaMismatch(RuntimeError):
    """A handler built a body its documented schema does not describe: a bug, never a 4xx."""


def check_body(model: type[Schema], body: JSON) -> None:
    try:
        # Strict, from JSON: `1` is no boolean, a string is a timestamp only as JSON has them.
        parsed = model.model_validate_json(dumps(body), strict=True)
        described = parsed.model_dump(mode="json", by_alias=True)
    except ValueError as exc:  # pydantic's ValidationError; must not become a 422
        raise ResponseSchemaMismatch(f"{model.__name__}: {exc}") from None
    if described != body:
        raise ResponseSchemaMismatch(f"{model.__name__}: {body!r} != {described!r}")


def responds(model: type[Schema], status: int = 200) -> Callable[[Handler], Callable[..., Any]]:
    """Document `model` as the `status` response and send the handler's dict as JSON."""

    def decorator(func: Handler) -> Callable[..., Any]:
        document_response(model, status)(func)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            body = await func(*args, **kwargs)
            if current_app.config["VALIDATE_RESPONSES"]:
                check_body(model, body)
            return json_response(body, status)

        return wrapper

    return decorator

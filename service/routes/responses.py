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
from dataclasses import dataclass
from functools import wraps
from typing import Any

from quart import Response, current_app
from quart_schema import document_response

from service.jsonio import dumps, json_response
from service.schemas.base import Schema

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Moved:
    """What a handler returns for a resource asked for by an old name: 301 to `location`, with
    the body found there, for clients that do not follow redirects."""

    body: JSON
    location: str


Handler = Callable[..., Awaitable[JSON | Moved]]


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


def responds(
    model: type[Schema], status: int = 200, *, moved: bool = False
) -> Callable[[Handler], Callable[..., Any]]:
    """Document `model` as the `status` response and send the handler's dict as JSON; with
    `moved`, also as the body of a 301 (the handler returns `Moved`)."""

    def decorator(func: Handler) -> Callable[..., Any]:
        document_response(model, status)(func)
        if moved:
            document_response(model, 301)(func)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            result = await func(*args, **kwargs)
            body, code, headers = (
                (result.body, 301, {"Location": result.location})
                if isinstance(result, Moved)
                else (result, status, None)
            )
            if current_app.config["VALIDATE_RESPONSES"]:
                check_body(model, body)
            return json_response(body, code, headers)

        return wrapper

    return decorator

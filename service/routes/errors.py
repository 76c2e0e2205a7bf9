"""Every failure as `{"errors": {key: [message, ...]}}`: domain errors, validation, HTTP errors
and unexpected exceptions (logged with the request id, answered without internals).

A database that cannot be reached or would not take the work is not a bug: 503 with
`Retry-After` and one body whatever the cause, the request's access log line says why, and a
short traceback is logged once per outage (per process: until a new connection succeeds),
not once per request.
"""

from __future__ import annotations

import logging
import traceback
from collections import defaultdict
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, g, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from service import db, observability
from service.errors import RETRY_AFTER_ERRORS, AppError
from service.jsonio import json_response

log = logging.getLogger("service.errors")

DATABASE_RETRY_AFTER_SECONDS = 2

# Messages in the Conduit style ("can't be blank"), keyed by pydantic's error type.
_MESSAGES: dict[str, str] = {
    "missing": "can't be blank",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "int_parsing_size": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "enum": "is not one of the allowed values",
    "value_error": "is invalid",
    "string_pattern_mismatch": "is invalid",
    "json_invalid": "is not valid JSON",
}

_HTTP_KEYS: dict[int, tuple[str, str]] = {
    400: ("body", "is invalid"),
    401: ("token", "is missing"),
    403: ("request", "forbidden"),
    404: ("path", "not found"),
    405: ("method", "not allowed"),
    408: ("request", "timed out"),
    413: ("body", "is too large"),
    415: ("body", "must be JSON (Content-Type: application/json)"),
    429: ("request", "too many requests, try again later"),
}


def error_response(status: int, errors: dict[str, list[str]], **headers: str) -> Response:
    return json_response({"errors": errors}, status, headers or None)


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors keyed by the field at fault (the last name in its location)."""
    errors: dict[str, list[str]] = defaultdict(list)
    for error in exc.errors(include_url=False):
        names = [part for part in error["loc"] if isinstance(part, str)]
        key = names[-1] if names else "body"
        message = _message(error)
        if message not in errors[key]:
            errors[key].append(message)
    return dict(errors)


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "can't be blank"
        return f"is too short (minimum is {ctx.get('min_length')} characters)"
    if kind == "string_too_long":
        return f"is too long (maximum is {ctx.get('max_length')} characters)"
    if kind == "too_short":  # lists
        return f"is too short (minimum is {ctx.get('min_length')} items)"
    if kind == "too_long":
        return f"is too long (maximum is {ctx.get('max_length')} items)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("greater than or equal to", "ge"),
            "greater_than": ("greater than", "gt"),
            "less_than_equal": ("less than or equal to", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        return f"must be {words[0]} {ctx.get(words[1])}"
    if kind == "value_error" and ctx.get("error"):
        text = str(ctx["error"])
        # email-validator explains at length; the contract's short form is enough.
        return "is invalid" if "email" in text.lower() else text
    # Never pydantic's own wording: the contract's short phrases only.
    return _MESSAGES.get(kind, "is invalid")


def register(app: Quart) -> None:
    @app.errorhandler(AppError)
    async def _app_error(exc: AppError) -> Response:
        headers = {}
        if isinstance(exc, RETRY_AFTER_ERRORS):
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(exc.status, exc.to_dict(), **headers)

    @app.errorhandler(RequestSchemaValidationError)
    async def _invalid_request(exc: RequestSchemaValidationError) -> Response:
        cause = exc.validation_error
        if isinstance(cause, ValidationError):
            return error_response(422, validation_errors(cause))
        return error_response(422, {"body": ["is invalid"]})

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        key, message = _HTTP_KEYS.get(status, ("request", (exc.name or "error").lower()))
        response = error_response(status, {key: [message]})
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        request_id = str(g.get("request_id", "-"))
        fields = db.describe(exc)
        if db.unavailable(exc):
            observability.note_error("database unavailable", fields)
            if db.database().outage_begins():
                log.warning(
                    "database unavailable; further failures until it answers again are in "
                    "the access log",
                    extra={"fields": {**fields, "trace": _short_trace(exc)}},
                )
            return error_response(
                503,
                {"service": ["unavailable, try again later; quote request id " + request_id]},
                **{"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
        observability.note_error("internal error", fields)
        if "sqlstate" in fields or "statement" in fields:
            # A statement failed: its class, SQLSTATE and SQL, never the driver's message.
            log.error(
                "database error on %s %s",
                request.method,
                request.url_rule.rule if request.url_rule else "unmatched",
                extra={
                    "request_id": request_id,
                    "fields": {**fields, "trace": _short_trace(exc, limit=None)},
                },
            )
        else:
            log.exception(
                "unhandled error on %s %s",
                request.method,
                request.path,
                extra={"request_id": request_id},
            )
        return error_response(500, {"server": ["internal error; quote request id " + request_id]})


def _short_trace(exc: BaseException, limit: int | None = 4) -> str:
    """Where it failed: the innermost frames, without the exceptions' messages (a driver's
    message can quote the statement's values)."""
    frames = list(traceback.extract_tb(exc.__traceback__))
    if limit is not None:
        frames = frames[-limit:]
    return "".join(traceback.format_list(frames)) + type(exc).__name__

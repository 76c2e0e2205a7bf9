"""Shared schema pieces: camelCase on the wire, RFC 3339 timestamps with milliseconds and Z."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


# Remembered: a page of 20 articles formats 40 timestamps, the same ones request after
# request while the page stays hot (a lookup costs about a twentieth of the formatting, which
# was 4 % of a list request's CPU). Keys are instants: equal aware datetimes are one instant
# whatever their zone, and a naive one (SQLite) never equals an aware one. ~1 MB at most.
@lru_cache(maxsize=8192)
def format_timestamp(value: datetime) -> str:
    """`2026-11-25T09:00:00.123Z`. SQLite hands back naive datetimes; every stored time is UTC."""
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str, when_used="unless-none"),
]


# What the document says of text the request layer takes (routes/validation.py): no NUL
# anywhere, and for trimmed fields at least one character that is not whitespace (Python's
# `str.isspace`, which `\s` alone does not match in every regex dialect).
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"


def _not_null(schema: dict[str, Any]) -> None:
    variants = [part for part in schema.pop("anyOf", []) if part.get("type") != "null"]
    if len(variants) == 1:
        schema.update(variants[0])
    schema.pop("default", None)


def omittable() -> Any:
    """A field of a partial update that may be left out but never sent as null (the service
    refuses null with "can't be blank"); the document says so instead of `anyOf [.., null]`."""
    return Field(default=None, json_schema_extra=_not_null)


def absent_when_none() -> Any:
    """A response field that is left out of the body when it has no value (never sent as
    null), and documented without null."""
    return Field(default=None, exclude_if=lambda value: value is None, json_schema_extra=_not_null)


class Schema(BaseModel):
    """Base of every request and response model: the one place snake_case meets camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class PageQuery(Schema):
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ErrorBody(Schema):
    """Every error: the key says what is at fault (a field, `token`, a resource type)."""

    errors: dict[str, list[str]]

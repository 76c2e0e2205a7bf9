"""What /openapi.json says about Idempotency-Key (the header is read by routes/idempotency.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

# As services/idempotency.py checks it (1..255 printable ASCII).
IdempotencyKeyValue = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$")
]


def _optional(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # an optional header: absent, not null


class IdempotencyHeaders(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    idempotency_key: IdempotencyKeyValue | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_optional,
        alias="Idempotency-Key",
        description=(
            "Optional; makes a retry safe. A retry with the same key and the same body within "
            "24 hours gets the first answer (status and body, with `Idempotent-Replayed: true`) "
            "and creates nothing; the same key with another body is a 422; a retry while the "
            "first request still runs is a 409 with `Retry-After`. Keys belong to the caller "
            "(the user, or for registration the client address). 1 to 255 printable ASCII "
            "characters, e.g. a random UUID per operation."
        ),
    )

"""The audit log as admins read it: GET /api/admin/audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from service.models import MAX_ID, AuditEvent
from service.models.audit import EVENT_TYPE_MAX
from service.schemas.base import Schema, Timestamp, format_timestamp

JSON = dict[str, Any]

CURSOR_MAX = 64


class AuditQuery(Schema):
    actor: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Only events of this acting user (an id)."
    )
    event_type: str | None = Field(
        default=None,
        alias="type",
        min_length=1,
        max_length=EVENT_TYPE_MAX,
        description="Only events of this type, e.g. `login.failed`.",
    )
    since: datetime | None = Field(
        default=None,
        description="Only events at or after this time (RFC 3339; without a zone, UTC).",
    )
    until: datetime | None = Field(
        default=None, description="Only events before this time (RFC 3339; without a zone, UTC)."
    )
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=CURSOR_MAX,
        description="`nextCursor` of the previous page; the same filters must be sent again.",
    )
    limit: int = Field(default=50, ge=1, le=100)


class AuditEventOut(Schema):
    """One security event. `actor` and `target` are user ids (null: nobody signed in, or no
    such account); nothing secret is recorded."""

    type: str
    actor: int | None
    target: int | None
    address: str | None
    request_id: str | None
    at: Timestamp


class AuditListResponse(Schema):
    events: list[AuditEventOut]
    next_cursor: str | None = Field(
        description="Send it as `cursor` for the next (older) page; null on the last page."
    )


def audit_list_response(events: Sequence[AuditEvent], next_cursor: str | None) -> JSON:
    return {
        "events": [
            {
                "type": event.type,
                "actor": event.actor_id,
                "target": event.target_id,
                "address": event.address,
                "requestId": event.request_id,
                "at": format_timestamp(event.at),
            }
            for event in events
        ],
        "nextCursor": next_cursor,
    }

"""Bodies of the operations endpoints (liveness and readiness)."""

from __future__ import annotations

from typing import Literal

from service.schemas.base import Schema, absent_when_none


class Health(Schema):
    """The process answers."""

    status: Literal["ok"]


class Readiness(Schema):
    """The database answers and the instance is not draining; with a read replica, its state
    as this worker sees it (reads use the primary unless it is `ok`)."""

    status: Literal["ready"]
    # Absent without DATABASE_READ_URL.
    replica: Literal["ok", "lagging", "down"] | None = absent_when_none()

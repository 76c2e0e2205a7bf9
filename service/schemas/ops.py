"""Bodies of the operations endpoints (liveness and readiness)."""

from __future__ import annotations

from typing import Literal

from service.schemas.base import Schema


class Health(Schema):
    """The process answers."""

    status: Literal["ok"]


class Readiness(Schema):
    """The database answers and the instance is not draining."""

    status: Literal["ready"]

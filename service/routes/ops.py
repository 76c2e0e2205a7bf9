"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from quart import Blueprint, current_app

from service import db
from service.errors import Unavailable

bp = Blueprint("ops", __name__)

READY_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. No I/O, so a slow database never restarts the pod."""
    return {"status": "ok"}


@bp.get("/readyz")
async def readyz() -> dict[str, str]:
    """Readiness: the database answers and the instance is not draining."""
    if current_app.extensions.get("draining"):
        raise Unavailable(key="service", message="draining")
    if not await db.database().ping(READY_TIMEOUT_SECONDS):
        raise Unavailable(key="database", message="unreachable")
    return {"status": "ready"}

"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart_schema import document_response, tag

from service import db
from service.errors import Unavailable
from service.routes.apidoc import ErrorDoc, errors, without_database
from service.schemas.ops import Health, Readiness

bp = Blueprint("ops", __name__)

READY_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
@tag(["operations"])
@without_database
@document_response(Health)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers.

    No I/O, so a slow database never restarts the pod.
    """
    return {"status": "ok"}


@bp.get("/readyz")
@tag(["operations"])
@without_database  # its own 503s say what the database does
@errors(
    ErrorDoc.of(Unavailable(key="service", message="draining"), "the instance is shutting down"),
    ErrorDoc.of(
        Unavailable(key="database", message="unreachable"),
        f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s",
    ),
)
@document_response(Readiness)
async def readyz() -> dict[str, str]:
    """Readiness: the database answers and the instance is not draining.

    A load balancer sends traffic only while this is 200; SIGTERM turns it to 503 first.
    With a read replica (`DATABASE_READ_URL`), `replica` says what this worker finds it:
    `ok`, `lagging` (behind past `REPLICA_MAX_LAG_SECONDS`) or `down`; reads use the primary
    meanwhile, so the instance stays ready.
    """
    if current_app.extensions.get("draining"):
        raise Unavailable(key="service", message="draining")
    database = db.database()
    if not await database.ping(READY_TIMEOUT_SECONDS):
        raise Unavailable(key="database", message="unreachable")
    if database.replica is None:
        return {"status": "ready"}
    return {"status": "ready", "replica": database.replica.state}

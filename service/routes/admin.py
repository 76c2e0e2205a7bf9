"""Admin-only views of the service: the audit log."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
from service.errors import Invalid, UserForbidden
from service.routes.apidoc import ErrorDoc, errors
from service.routes.responses import JSON, responds
from service.routes.validation import query
from service.schemas.audit import AuditListResponse, AuditQuery, audit_list_response
from service.services import audit as audit_service

bp = Blueprint("admin", __name__, url_prefix="/api/admin")


@bp.get("/audit")
@tag(["admin"])
@errors(
    ErrorDoc.of(UserForbidden, "the caller is not an admin"),
    ErrorDoc.of(Invalid("cursor", "is invalid"), "a cursor this service did not hand out"),
)
@security.require_user
@query(AuditQuery)
@responds(AuditListResponse)
async def list_audit_events(query_args: AuditQuery) -> JSON:
    """The audit log (admins only).

    Security events, newest first: logins (failed ones too), registrations, password and role
    changes, revoked tokens and sessions, reused refresh tokens, webhooks deleted by an admin.
    Each names the acting user and the user it concerns (ids), the client address, the request
    id and the time; never a password, token or hash. Filter by `actor`, `type`, `since` and
    `until`; `nextCursor` fetches the next page (send the same filters), null on the last.
    """
    page = await audit_service.list_events(
        db.session(),
        security.current_user(),
        actor=query_args.actor,
        event_type=query_args.event_type,
        since=query_args.since,
        until=query_args.until,
        cursor=query_args.cursor,
        limit=query_args.limit,
    )
    return audit_list_response(page.events, page.next_cursor)

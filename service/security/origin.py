"""Where the current request comes from, as the audit log records it."""

from __future__ import annotations

from quart import g, request

from service.services.audit import Origin


def origin() -> Origin:
    """The client's address (as seen through TRUSTED_PROXY_HOPS) and the request's id."""
    request_id = g.get("request_id")
    return Origin(address=request.remote_addr, request_id=request_id)

"""A per-request deadline, enforced in the app because hypercorn has none (its issue #322).

The view (with its auth decorators and every query it awaits) runs under `asyncio.timeout`;
past the deadline it is cancelled and the request is answered 503 with `Retry-After` through
the usual error path, so `after_request` rolls the request's session back and teardown closes
it. PostgreSQL's statement_timeout (never longer, see config) stops the query server-side too.

The body is read in full before the request queues for an admission slot and before its
deadline starts: a client that sends its body slowly (or stops halfway) holds a coroutine,
never one of the pool's connections. Reading it is bounded by BODY_TIMEOUT_SECONDS (Quart's
BODY_TIMEOUT: 408 past it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart
from quart.ctx import RequestContext
from quart.globals import request_ctx

from service.admission import UNQUEUED_BLUEPRINTS, Admission
from service.errors import Unavailable


class RequestTimedOut(Unavailable):
    key = "request"
    message = "timed out"


class DeadlineQuart(Quart):
    async def dispatch_request(self, request_context: RequestContext | None = None) -> Any:
        seconds: float = self.config["REQUEST_TIMEOUT_SECONDS"]
        admission: Admission | None = self.extensions.get("admission")
        request = (request_context or request_ctx).request
        blueprint = request.blueprint
        if request.routing_exception is None and (
            request.content_length or "Transfer-Encoding" in request.headers
        ):
            # Kept for the view (cache=True); 408 past BODY_TIMEOUT, 413 past the size limit.
            await request.get_data(cache=True)
        try:
            async with asyncio.timeout(seconds):
                if admission is None or blueprint in UNQUEUED_BLUEPRINTS:
                    return await super().dispatch_request(request_context)
                async with admission.slot():  # the wait counts against the deadline
                    return await super().dispatch_request(request_context)
        except TimeoutError:
            raise RequestTimedOut(retry_after=1) from None

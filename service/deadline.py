"""A per-request deadline, enforced in the app because hypercorn has none (its issue #322).

Everything the request does runs under `asyncio.timeout`: its before_request hooks, the view
(with its auth decorators and every query it awaits) and the after_request hooks, where the
transaction commits. Past the deadline it is cancelled, its session is dropped without a
word to the database (its connection terminated: one that does not answer cannot hold the
client up), and it is answered 503 with `Retry-After` through the usual error path.
PostgreSQL's statement_timeout (never longer, see config) stops the query server-side too.

A read (GET, HEAD) whose connection turns out to be dead runs once more on a fresh one, within
the same deadline: reads write nothing, and nothing of the response has been sent yet.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from quart import Quart
from quart.ctx import RequestContext
from quart.globals import request_ctx

from service import db
from service.admission import UNQUEUED_BLUEPRINTS, Admission
from service.errors import Unavailable

log = logging.getLogger("service.deadline")


class RequestTimedOut(Unavailable):
    key = "request"
    message = "timed out"


class DeadlineQuart(Quart):
    async def full_dispatch_request(self, request_context: RequestContext | None = None) -> Any:
        seconds: float = self.config["REQUEST_TIMEOUT_SECONDS"]
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await super().full_dispatch_request(request_context)
        except TimeoutError:
            if not deadline.expired():
                raise  # someone else's timeout (a connect's): the error handlers' business
        await db.abandon_session()
        timed_out = await self.handle_user_exception(RequestTimedOut(retry_after=1))
        return await self.finalize_request(timed_out, request_context, from_error_handler=True)

    async def dispatch_request(self, request_context: RequestContext | None = None) -> Any:
        admission: Admission | None = self.extensions.get("admission")
        blueprint = (request_context or request_ctx).request.blueprint
        if admission is None or blueprint in UNQUEUED_BLUEPRINTS:
            return await self._dispatch(request_context)
        async with admission.slot():  # the wait counts against the deadline
            return await self._dispatch(request_context)

    async def _dispatch(self, request_context: RequestContext | None) -> Any:
        method = (request_context or request_ctx).request.method
        try:
            return await super().dispatch_request(request_context)
        except Exception as exc:
            if method not in db.READ_ONLY_METHODS or not db.dead_connection(exc):
                raise
            log.info("read retried on a fresh connection", extra={"fields": db.describe(exc)})
        await db.abandon_session()
        return await super().dispatch_request(request_context)

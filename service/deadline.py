"""A per-request deadline, enforced in the app because hypercorn has none (its issue #322).

Everything the request does runs under it: its before_request hooks, the view (with its auth
decorators and every query it awaits) and the after_request hooks, where the transaction
commits. Past the deadline it is cancelled (again, if it goes on), its session is dropped
without a word to the database (its connection terminated: one that does not answer cannot
hold the client up), and it is answered 503 with `Retry-After` through the usual error path.
PostgreSQL's statement_timeout (never longer, see config) stops the query server-side too.

The body is read in full before the request queues for an admission slot, with the deadline's
clock stopped: a client that sends its body slowly (or stops halfway) holds a coroutine, never
one of the pool's connections, and meets BODY_TIMEOUT_SECONDS (Quart's BODY_TIMEOUT: 408 past
it), not the request deadline.

A read (GET, HEAD) whose connection turns out to be dead runs once more on a fresh one, within
the same deadline: reads write nothing, and nothing of the response has been sent yet. So does
a read that found the read replica unreachable, on the primary (read_routing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from quart import Quart
from quart.ctx import RequestContext
from quart.globals import request_ctx

from service import db, observability, read_routing
from service.admission import UNQUEUED_BLUEPRINTS, Admission
from service.errors import Unavailable

log = logging.getLogger("service.deadline")


class RequestTimedOut(Unavailable):
    key = "request"
    message = "timed out"


# Past the deadline, how often the request is cancelled again while it has not stopped.
RECANCEL_SECONDS = 0.05


class _Deadline:
    """Cancels the current task at the deadline, and again every RECANCEL_SECONDS until the
    request stops: on Python 3.11 one cancellation can be lost where an awaited operation
    completes at the same moment (cpython gh-86296 is one such place), and the client would
    then wait for whatever the request does next (a connect measured 1 s past a 3 s deadline).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.cancels = 0
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._when = self._loop.time() + seconds
        self._handle = self._loop.call_at(self._when, self._expire)

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """The clock stops for the block (reading the body, which has its own timeout)."""
        if self.cancels:  # already past it
            yield
            return
        self._handle.cancel()
        left = self._when - self._loop.time()
        try:
            yield
        finally:
            self._when = self._loop.time() + left
            self._handle = self._loop.call_at(self._when, self._expire)

    def hold(self) -> None:
        """No cancellation for now: the request is settling what it started (bounded by a
        timeout of its own)."""
        self._handle.cancel()

    def resume(self) -> None:
        if self.cancels:  # past the deadline: cancel again soon, as before the hold
            self._handle = self._loop.call_later(RECANCEL_SECONDS, self._expire)
        else:
            self._handle = self._loop.call_at(self._when, self._expire)

    def _expire(self) -> None:
        if self.cancels:
            log.warning("request still running past its deadline: cancelled again")
        self.cancels += 1
        if self._task is not None:
            self._task.cancel()
        self._handle = self._loop.call_later(RECANCEL_SECONDS, self._expire)

    def stop(self) -> None:
        """The request has stopped: no more cancellations; take back the ones delivered."""
        self._handle.cancel()
        if self._task is not None:
            for _ in range(self.cancels):
                self._task.uncancel()


_current: ContextVar[_Deadline | None] = ContextVar("deadline", default=None)


@contextlib.asynccontextmanager
async def settling() -> AsyncIterator[None]:
    """For clean-up after a cancellation (freeing what the request had claimed): the deadline
    does not cancel the block, which must bound itself. Without this, past the deadline the
    repeated cancellations cut any clean-up longer than RECANCEL_SECONDS short, as on a loaded
    host or a slow database."""
    deadline = _current.get()
    if deadline is None:
        yield
        return
    deadline.hold()
    try:
        yield
    finally:
        deadline.resume()


class DeadlineQuart(Quart):
    async def full_dispatch_request(self, request_context: RequestContext | None = None) -> Any:
        deadline = _Deadline(self.config["REQUEST_TIMEOUT_SECONDS"])
        token = _current.set(deadline)
        try:
            return await super().full_dispatch_request(request_context)
        except asyncio.CancelledError:
            if not deadline.cancels:
                raise  # not the deadline: the client went away
        finally:
            deadline.stop()
            _current.reset(token)
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise asyncio.CancelledError  # someone else cancelled it too: the server is stopping
        await db.abandon_session()
        observability.note_error("past its deadline", {"deadline_s": str(deadline.seconds)})
        timed_out = await self.handle_user_exception(RequestTimedOut(retry_after=1))
        return await self.finalize_request(timed_out, request_context, from_error_handler=True)

    async def dispatch_request(self, request_context: RequestContext | None = None) -> Any:
        admission: Admission | None = self.extensions.get("admission")
        request = (request_context or request_ctx).request
        if request.routing_exception is None and (
            request.content_length or "Transfer-Encoding" in request.headers
        ):
            # Kept for the view (cache=True); 408 past BODY_TIMEOUT, 413 past the size limit.
            # A slow body is the body timeout's business, not the request deadline's.
            deadline = _current.get()
            if deadline is None:
                await request.get_data(cache=True)
            else:
                async with deadline.paused():
                    await request.get_data(cache=True)
        if admission is None or request.blueprint in UNQUEUED_BLUEPRINTS:
            return await self._dispatch(request_context)
        async with admission.slot():  # the wait counts against the deadline
            return await self._dispatch(request_context)

    async def _dispatch(self, request_context: RequestContext | None) -> Any:
        method = (request_context or request_ctx).request.method
        try:
            return await super().dispatch_request(request_context)
        except Exception as exc:
            if method not in db.READ_ONLY_METHODS:
                raise
            if not read_routing.moved_to_primary(exc):
                if not db.dead_connection(exc):
                    raise
                log.info("read retried on a fresh connection", extra={"fields": db.describe(exc)})
        await db.abandon_session()
        return await super().dispatch_request(request_context)

"""Admission: requests that may use the database wait here, first come first served, for one
of the pool's connections.

Without it they wait inside SQLAlchemy's pool, whose asyncio.Queue lets a newcomer take a
connection that was just handed back before the waiter woken for it runs; that waiter goes
to the back of the line. Under a burst a few requests lose that race again and again, and
run into the pool timeout (a 500) or the client's while the rest are quick: at 256
connections the bench measured failures and multi-second p99s. asyncio.Semaphore admits in
arrival order (a newcomer never passes a waiter), so with at most pool-size requests inside,
the pool itself never queues. Waiting counts against the request deadline (503 past it).

Liveness, readiness and metrics are not queued: they must answer while the app is busy.
A request that waits on something other than the database (password hashing in its thread
pool, seconds under a login burst) steps out and queues again after, so a burst of logins
does not hold every slot while quick reads wait behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

UNQUEUED_BLUEPRINTS = frozenset({"ops", "metrics"})


class _Held:
    """Whether the current request holds its slot right now."""

    def __init__(self) -> None:
        self.now = True


_held: ContextVar[_Held | None] = ContextVar("admission_held", default=None)


class Admission:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._semaphore = asyncio.Semaphore(slots)

    @property
    def waiting(self) -> int:
        return len(self._semaphore._waiters or ())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._semaphore.acquire()
        held = _Held()
        token = _held.set(held)
        try:
            yield
        finally:
            _held.reset(token)
            if held.now:
                self._semaphore.release()

    @asynccontextmanager
    async def stepped_out(self) -> AsyncIterator[None]:
        """Give the current request's slot back for the block, then queue for it again.
        Outside a slot (a CLI, a test) it does nothing. On an error or a cancellation the
        request leaves without queueing again."""
        held = _held.get()
        if held is None or not held.now:
            yield
            return
        held.now = False
        self._semaphore.release()
        yield  # raises here on an error: the slot stays given back
        await self._semaphore.acquire()
        held.now = True

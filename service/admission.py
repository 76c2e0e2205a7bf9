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
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

UNQUEUED_BLUEPRINTS = frozenset({"ops", "metrics"})


class Admission:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._semaphore = asyncio.Semaphore(slots)

    @property
    def waiting(self) -> int:
        return len(self._semaphore._waiters or ())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            yield

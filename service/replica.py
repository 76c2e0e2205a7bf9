"""The read replica's health as one worker sees it: reachable or not, and how stale at most.

Staleness is measured against the primary on this process's clock, never the servers' (which
may disagree). Each check notes the time, then reads the primary's flushed WAL position (every
commit acknowledged before that time lies at or below it), then the position the replica has
replayed. Once the replica has replayed past a noted position it shows every commit made
before that position's time: `as_of` is the latest such time, and the replica's staleness at
any moment is at most `now - as_of`. That bound grows by itself between checks, and while the
replica stops replaying or the checks stop answering, so a stalled check can only send reads
to the primary, never to a stale replica.

Reads use the replica while it is not down and its staleness is within the bound; a request
that finds it unreachable marks it down (read_routing.py) until a check finds it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Literal

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("service.replica")

ReplicaState = Literal["ok", "lagging", "down"]
STATES: tuple[ReplicaState, ...] = ("ok", "lagging", "down")

# The worst state any live worker sees: 1 for a state when at least one worker is in it.
REPLICA_STATE = Gauge(
    "db_replica_state",
    "The read replica's state as the workers see it (1: some worker sees it so)",
    ["state"],
    multiprocess_mode="livemax",
)

# One check's queries get this long; a replica slower than that is as good as down.
CHECK_TIMEOUT_SECONDS = 1.0
# Positions noted while the replica does not replay them (paused, far behind): the oldest go
# first, which only makes `as_of` older, never newer than the truth.
MAX_SAMPLES = 1000

NOT_CHECKED = "not checked yet"

# Bytes since 0/0, as numbers (pg_lsn compares, but crosses the driver as text).
PRIMARY_POSITION = "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn"
# NULL on a server that was never a standby: not a replica to read from.
REPLAYED_POSITION = "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"


async def _position(engine: AsyncEngine, query: str, seconds: float) -> int | None:
    async with asyncio.timeout(seconds), engine.connect() as conn:
        value = (await conn.exec_driver_sql(query)).scalar()
    return None if value is None else int(value)


class ReplicaMonitor:
    """Checks the replica every `interval` seconds from a task of its own (start/stop)."""

    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine,
        *,
        max_lag: float,
        interval: float,
        timeout: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self._primary = primary
        self._replica = replica
        self.max_lag = max_lag
        self.interval = interval
        self.timeout = timeout
        self._samples: deque[tuple[float, int]] = deque(maxlen=MAX_SAMPLES)
        self._as_of: float | None = None
        self._down: str | None = NOT_CHECKED  # why it is down; None when it answers
        self._task: asyncio.Task[None] | None = None

    def usable(self) -> bool:
        """Reads may go to the replica now: it answers and is within the lag bound."""
        as_of = self._as_of
        return self._down is None and as_of is not None and time.monotonic() - as_of <= self.max_lag

    @property
    def state(self) -> ReplicaState:
        if self._down is not None:
            return "down"
        return "ok" if self.usable() else "lagging"

    def staleness(self) -> float | None:
        """Seconds of commits the replica may not show yet (None: never caught up)."""
        return None if self._as_of is None else time.monotonic() - self._as_of

    def failed(self, reason: dict[str, str]) -> None:
        """A request found the replica unreachable: down until a check finds it back."""
        self._went_down(reason)
        self._publish()

    async def check(self) -> None:
        noted = time.monotonic()
        try:
            position = await _position(self._primary, PRIMARY_POSITION, self.timeout)
        except Exception:  # the primary's trouble, not the replica's: no new sample
            position = None
        if position is not None:
            self._samples.append((noted, position))
        try:
            replayed = await _position(self._replica, REPLAYED_POSITION, self.timeout)
        except Exception as exc:
            self._went_down({"error": type(exc).__name__, "reason": str(exc)[:200]})
        else:
            if replayed is None:
                self._went_down({"reason": "not a standby (pg_last_wal_replay_lsn() is NULL)"})
            else:
                while self._samples and self._samples[0][1] <= replayed:
                    self._as_of = self._samples.popleft()[0]
                if self._down is not None:
                    log.log(
                        logging.INFO if self._down == NOT_CHECKED else logging.WARNING,
                        "read replica answers: reads use it while within the lag bound",
                        extra={"fields": {"was": self._down}},
                    )
                    self._down = None
        self._publish()

    def _went_down(self, reason: dict[str, str]) -> None:
        if self._down is None:
            log.warning("read replica unavailable: reads use the primary", extra={"fields": reason})
        self._down = reason.get("reason") or reason.get("error") or "unavailable"

    def _publish(self) -> None:
        current = self.state
        for state in STATES:
            REPLICA_STATE.labels(state).set(1 if state == current else 0)

    async def start(self) -> None:
        """One check before serving (reads know where to go from the first request), then
        the periodic ones."""
        await self.check()
        self._task = asyncio.create_task(self._run(), name="replica-monitor")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let the monitor die: a dead one leaves reads stale-safe
                log.exception("read replica check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

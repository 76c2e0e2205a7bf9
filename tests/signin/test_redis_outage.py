"""The shared counters when Redis fails and comes back: a real Redis (TEST_REDIS_URL) behind
the fault proxy (tests/faults/proxy.py), which refuses, resets and freezes its connections.

Counting goes on in the process's memory, never an error; the outage is logged once when it
begins and once when it ends, not at each attempt; while it lasts Redis is asked again at most
once per retry interval, so a Redis that hangs costs one attempt its socket timeout, not every
attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis
from sqlalchemy.engine import make_url

from service.ratelimit import RedisCounters
from tests.faults.proxy import FaultProxy, fault_proxy
from tests.signin.test_rate_limits import REDIS_TEST_URL

RETRY = 0.3  # seconds between attempts to reach Redis again during an outage
SOCKET_TIMEOUT = 0.5  # RedisCounters' own


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    url = make_url(REDIS_TEST_URL)
    with fault_proxy(url.host or "127.0.0.1", url.port or 6379) as running:
        yield running


@pytest.fixture
async def counters(proxy: FaultProxy) -> AsyncIterator[RedisCounters]:
    prefix = f"test:{uuid.uuid4().hex}:"
    database = make_url(REDIS_TEST_URL).database or "0"
    made = RedisCounters(f"redis://127.0.0.1:{proxy.port}/{database}", prefix, retry_seconds=RETRY)
    yield made
    await made.close()
    client = redis.from_url(REDIS_TEST_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """How many times the outage was logged as beginning, and as ending."""
    messages = [r.getMessage() for r in caplog.records if r.name == "service.ratelimit"]
    began = sum("rate limit store unavailable" in m for m in messages)
    ended = sum("rate limit store answers again" in m for m in messages)
    return began, ended


async def timed_hit(counters: RedisCounters, key: str) -> tuple[int, float]:
    started = time.monotonic()
    hit = await counters.hit(key, 60)
    return hit.count, time.monotonic() - started


async def test_refused_connections_count_in_memory_and_log_once(counters, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="service.ratelimit")
    assert [(await counters.hit("k", 60)).count for _ in range(2)] == [1, 2]  # in Redis

    proxy.refuse()  # nothing listens ...
    proxy.cut()  # ... and the pooled connections are reset
    counts = []
    for _ in range(20):
        count, seconds = await timed_hit(counters, "k")
        counts.append(count)
        assert seconds < 0.2, seconds  # refused at once, or not asked at all
    assert counts == list(range(1, 21))  # this process's memory: still counting, still limiting
    assert not counters.available
    assert await counters.seen("never-remembered") is False
    await counters.give_back("k")
    await counters.forget("k")
    assert outage_lines(caplog) == (1, 0)

    proxy.restore()
    await asyncio.sleep(RETRY)
    assert (await counters.hit("k", 60)).count == 3  # the shared window, where it was
    assert counters.available
    assert outage_lines(caplog) == (1, 1)


async def test_a_hanging_redis_delays_one_attempt_per_interval(counters, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="service.ratelimit")
    assert (await counters.hit("h", 60)).count == 1

    proxy.freeze()  # connections stay open, nothing answers
    count, first = await timed_hit(counters, "h")
    assert count == 1  # from memory, after the socket timeout
    assert SOCKET_TIMEOUT - 0.05 <= first <= SOCKET_TIMEOUT + 0.5, first
    slow = attempts = 0
    started = time.monotonic()
    while time.monotonic() - started < 2 * RETRY:
        _, seconds = await timed_hit(counters, "h")
        attempts += 1
        slow += seconds > 0.2
    # Asked again once per interval at most: a hung Redis is not on every attempt's path.
    assert attempts >= 20, attempts
    assert slow <= 2, slow
    assert outage_lines(caplog) == (1, 0)

    proxy.restore()  # delivers what was held: the hung calls' answers are now stale ...
    await asyncio.sleep(RETRY)
    for _ in range(3):  # ... so the first calls back may still fail: no error either way
        await counters.hit("h", 60)
        if counters.available:
            break
        await asyncio.sleep(RETRY)
    assert counters.available
    assert outage_lines(caplog) == (1, 1)

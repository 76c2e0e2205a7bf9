"""PostgreSQL failing under a live launcher (two workers), through the fault proxy: stopped
(refused, shutting down, not accepting connections), connections cut mid-request, connections
dead without notice, frozen. In each case the client gets an answer it can act on (503 with
Retry-After, never 500) within the documented time, the service recovers without a restart,
no acknowledged write is missing and no unacknowledged one is stored, and the log says so in
one JSON line per request.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from quart import Quart
from sqlalchemy import func, select, text

from service import db
from service.models import User
from tests.faults.conftest import (
    DEADLINE,
    POOL_TIMEOUT,
    READY_TIMEOUT,
    SLACK,
    Outcome,
    assert_unavailable,
    assert_writes_honest,
    call,
    log_lines,
    log_mark,
    register,
    wait_until_ready,
)
from tests.faults.connections import driver_of, kill
from tests.helpers import error_of

WORKERS = 2
RECOVERY_WITHIN = 5.0


async def _warm(http: httpx.AsyncClient, rounds: int = 2) -> None:
    """Fill both workers' pools with open connections."""
    for _ in range(rounds):
        warm = await asyncio.gather(*(call(http, "GET", "/api/articles") for _ in range(8)))
        assert [o.status for o in warm] == [200] * 8, warm


def _records(lines: list[str]) -> list[dict[str, object]]:
    """The log's JSON lines; any other line must be hypercorn's error log ("[date] [pid] ...")."""
    records = []
    for line in lines:
        if line.startswith("[") and "] [" in line:
            continue
        records.append(json.loads(line))
    return records


def _assert_one_line_per_request(lines: list[str], outcomes: list[Outcome]) -> None:
    """Each failed request: one access line saying why; a short trace once per worker for
    the outage (at least one worker saw it); no Python traceback anywhere."""
    assert not any("Traceback (most recent call last)" in line for line in lines)
    assert all(len(line) < 4096 for line in lines), max(lines, key=len)
    records = _records(lines)
    for outcome in outcomes:
        request_id = outcome.headers["X-Request-ID"]
        access = [
            r for r in records if r["request_id"] == request_id and r["logger"] == "service.access"
        ]
        assert len(access) == 1, (request_id, access)
        assert access[0]["status"] == 503
        assert access[0]["error_kind"] == "database unavailable", access[0]
    traces = [r for r in records if "trace" in r]
    assert 1 <= len(traces) <= WORKERS, traces


@pytest.mark.parametrize(
    "fault",
    ["refused", "shutting down", "not accepting connections"],
)
async def test_database_down_is_503_with_retry_after_until_it_answers_again(
    server, healthy, engine, fault
):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        before = await register(http, "before")
        assert before.status == 201, before
        await _warm(http, rounds=1)
        mark = log_mark(server)
        healthy.cut()  # a stopping server ends its sessions
        if fault == "refused":
            healthy.refuse()
        elif fault == "shutting down":
            healthy.reject("57P03", "the database system is shutting down")
        else:
            healthy.reject("57P03", "the database system is not accepting connections")

        reads = [call(http, "GET", path) for path in ["/api/articles"] * 5 + ["/api/tags"]]
        writes = [register(http, "down") for _ in range(3)]
        outcomes = await asyncio.gather(*reads, *writes)
        for outcome in outcomes:
            assert_unavailable(outcome)
            assert outcome.seconds <= POOL_TIMEOUT + SLACK, outcome
        # One body for every request, whatever it was, apart from the request id it quotes.
        assert len({str(o.body).replace(o.headers["X-Request-ID"], "") for o in outcomes}) == 1
        ready = await call(http, "GET", "/readyz")
        assert ready.status == 503, ready
        assert ready.body == {"errors": {"database": ["unreachable"]}}
        await asyncio.sleep(0.2)  # the last lines reach the log file
        _assert_one_line_per_request(log_lines(server, mark), outcomes)

        healthy.restore()
        recovered = await wait_until_ready(http, within=RECOVERY_WITHIN)
        after = await asyncio.gather(*(call(http, "GET", "/api/articles") for _ in range(4)))
        assert [o.status for o in after] == [200] * 4, after
        written = await register(http, "after")
        assert written.status == 201, written
    print(f"\n{fault}: 503 in ≤ {max(o.seconds for o in outcomes):.2f} s; ready {recovered:.2f} s")
    await assert_writes_honest(engine, [before, *outcomes[len(reads) :], written])


async def test_connections_cut_mid_request_give_no_500(server, healthy, engine):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await _warm(http)
        healthy.freeze()  # hold every request at its first statement, then cut them all
        reads = [asyncio.create_task(call(http, "GET", "/api/articles")) for _ in range(4)]
        writes = [asyncio.create_task(register(http, "cut")) for _ in range(2)]
        await asyncio.sleep(0.5)
        healthy.cut()
        healthy.restore()
        in_flight = await asyncio.gather(*reads, *writes)
        for outcome in in_flight:
            assert outcome.status in (200, 201, 503), outcome
            if outcome.status == 503:
                assert_unavailable(outcome)
        # Reads started after the cut find the dead connections replaced.
        after = await asyncio.gather(*(call(http, "GET", "/api/articles") for _ in range(8)))
        assert [o.status for o in after] == [200] * 8, after
        written = await register(http, "after-cut")
        assert written.status == 201, written
    seen = sorted({o.status for o in in_flight})
    print(f"\ncut: in flight answered {seen} in ≤ {max(o.seconds for o in in_flight):.2f} s")
    await assert_writes_honest(engine, [*in_flight[len(reads) :], written])


async def test_reads_on_connections_dead_without_notice_run_again(server, healthy, engine):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await _warm(http, rounds=3)
        mark = log_mark(server)
        healthy.drop()  # every pooled connection is dead; the app learns it when it sends
        reads = await asyncio.gather(*(call(http, "GET", "/api/articles") for _ in range(8)))
        assert [o.status for o in reads] == [200] * 8, reads
        writes = [await register(http, "dropped") for _ in range(2)]
        for outcome in writes:
            assert outcome.status in (201, 503), outcome
        await asyncio.sleep(0.2)
        records = _records(log_lines(server, mark))
        retried = [r for r in records if r["message"] == "read retried on a fresh connection"]
        assert retried, "no read found a dead connection: the test did not test"
    print(f"\ndrop: reads 200 in ≤ {max(o.seconds for o in reads):.2f} s, {len(retried)} retried")
    await assert_writes_honest(engine, writes)


async def test_frozen_database_answers_503_at_the_deadline(server, healthy, engine):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await _warm(http)
        healthy.freeze()
        # Alone first, so its ping runs on one of the open (now frozen) pooled connections.
        ready = await call(http, "GET", "/readyz")
        reads = [call(http, "GET", "/api/articles") for _ in range(4)]
        writes = [register(http, "frozen") for _ in range(2)]
        outcomes = await asyncio.gather(*reads, *writes)

        timed_out = [o for o in outcomes if o.body == {"errors": {"request": ["timed out"]}}]
        # In flight on an open connection: cut at the deadline. Waiting for a new one: refused
        # at the connect timeout, sooner. Never later than the deadline.
        assert timed_out, outcomes
        for outcome in outcomes:
            assert outcome.status == 503, outcome
            assert int(outcome.headers["Retry-After"]) >= 1
            assert outcome.seconds <= DEADLINE + SLACK, outcome
            if outcome in timed_out:
                assert outcome.seconds >= DEADLINE - SLACK, outcome
            else:
                assert_unavailable(outcome)
                assert outcome.seconds >= POOL_TIMEOUT - SLACK, outcome
        assert ready.status == 503, ready
        assert ready.seconds <= READY_TIMEOUT + SLACK, ready

        healthy.release()
        recovered = await wait_until_ready(http, within=RECOVERY_WITHIN)
        written = await register(http, "thawed")
        assert written.status == 201, written
    slowest = max(o.seconds for o in timed_out)
    print(
        f"\nfreeze: 503 at {min(o.seconds for o in timed_out):.2f}-{slowest:.2f} s "
        f"(deadline {DEADLINE} s), /readyz {ready.seconds:.2f} s, ready again {recovered:.2f} s"
    )
    await assert_writes_honest(engine, [*outcomes[len(reads) :], written])


async def test_a_client_that_leaves_mid_request_logs_one_quiet_line(server, healthy):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await _warm(http, rounds=1)
        mark = log_mark(server)
        healthy.freeze()
        async with httpx.AsyncClient(base_url=server.url, timeout=0.5) as impatient:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await impatient.get("/api/articles", headers={"X-Request-ID": "leaves-early"})
            assert time.monotonic() - started < DEADLINE
        await asyncio.sleep(0.5)
        healthy.restore()
        assert (await call(http, "GET", "/api/articles")).status == 200
        await asyncio.sleep(0.2)
    lines = log_lines(server, mark)
    assert not any("Traceback" in line or "CancelledError" in line for line in lines), lines
    records = _records(lines)
    mine = [r for r in records if r["request_id"] == "leaves-early"]
    assert len(mine) == 1, mine
    assert mine[0]["level"] == "info"
    assert mine[0]["outcome"] == "client closed the request"
    assert mine[0]["status"] is None


# In-process: the app's own database, no proxy.


async def test_a_commit_on_a_dropped_connection_is_503_and_writes_nothing(app: Quart, settings):
    @app.post("/test/write-then-lose-the-connection")
    async def write() -> tuple[dict[str, str], int]:
        session = db.session()
        session.add(User(username="lost", username_key="lost", email="l@x.io", password_hash="x"))
        await session.flush()
        await kill(settings, await driver_of(session))
        return {"written": "lost"}, 201  # the commit, in after_request, finds it gone

    response = await app.test_client().post(
        "/test/write-then-lose-the-connection", headers={"X-Request-ID": "commit-1"}
    )
    errors = await error_of(response, 503)
    assert errors == {"service": ["unavailable, try again later; quote request id commit-1"]}
    assert int(response.headers["Retry-After"]) >= 1
    async with app.extensions["db"].sessionmaker() as session:
        stored = select(func.count()).select_from(User).where(User.username == "lost")
        assert await session.scalar(stored) == 0
    assert (await app.test_client().get("/api/tags")).status_code == 200


async def test_a_pool_timeout_is_503(app_with):
    app = await app_with(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3)
    async with app.extensions["db"].engine.connect():  # the pool's only connection, held
        started = time.monotonic()
        response = await app.test_client().get("/api/tags", headers={"X-Request-ID": "pool-1"})
        waited = time.monotonic() - started
    errors = await error_of(response, 503)
    assert errors == {"service": ["unavailable, try again later; quote request id pool-1"]}
    assert 0.3 <= waited <= 0.3 + SLACK
    print(f"\npool timeout 0.3 s: 503 at {waited:.2f} s")
    assert (await app.test_client().get("/api/tags")).status_code == 200


async def test_a_statement_past_the_statement_timeout_is_503(app_with):
    app = await app_with(db_statement_timeout_ms=100)

    @app.get("/test/slow-statement")
    async def slow() -> dict[str, str]:
        await db.session().execute(text("SELECT pg_sleep(1)"))
        return {"slept": "yes"}

    started = time.monotonic()
    response = await app.test_client().get("/test/slow-statement", headers={"X-Request-ID": "st-1"})
    waited = time.monotonic() - started
    errors = await error_of(response, 503)
    assert errors == {"service": ["unavailable, try again later; quote request id st-1"]}
    assert waited < 1
    print(f"\nstatement timeout 0.1 s: 503 at {waited:.2f} s")

"""The idempotency service and DAO on the database: claims, takeovers, the clean-up job's batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import event, select, text

from service.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from service.models import IdempotencyKey
from service.services import idempotency as idempotency_service
from service.services.idempotency import Claim, StoredResponse

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEADLINE = timedelta(seconds=15)
ANSWER = StoredResponse(201, [["Content-Type", "application/json"]], b'{"made": 1}')


def _maker(app: Quart) -> Any:
    return app.extensions["db"].sessionmaker


async def _begin(app: Quart, now: datetime, fingerprint: str = "f" * 64, key: str = "k") -> Any:
    async with _maker(app)() as session:
        begun = await idempotency_service.begin(
            session, scope="user:1", key=key, fingerprint=fingerprint, now=now, stale_after=DEADLINE
        )
        await session.commit()
        return begun


async def _complete(app: Quart, claim: Claim) -> bool:
    async with _maker(app)() as session:
        done = await idempotency_service.complete(session, claim, ANSWER)
        await session.commit()
        return done


async def test_one_claim_a_409_while_it_runs_then_the_stored_answer_until_expiry(app):
    claim = await _begin(app, NOW)
    assert isinstance(claim, Claim)
    with pytest.raises(IdempotencyKeyInUse):
        await _begin(app, NOW + DEADLINE / 2)
    with pytest.raises(IdempotencyKeyReused):
        await _begin(app, NOW + DEADLINE / 2, fingerprint="e" * 64)
    assert await _complete(app, claim)
    assert not await _complete(app, claim)  # answered once
    assert await _begin(app, NOW + timedelta(hours=23)) == ANSWER
    # Answered keys never turn stale; expired ones are never served, whatever the request.
    expired = NOW + idempotency_service.TTL
    again = await _begin(app, expired, fingerprint="e" * 64)
    assert isinstance(again, Claim)
    assert again.token != claim.token


async def test_a_request_whose_stale_claim_was_taken_over_changes_nothing(app):
    first = await _begin(app, NOW)
    second = await _begin(app, NOW + DEADLINE + timedelta(seconds=1))
    assert isinstance(first, Claim)
    assert isinstance(second, Claim)
    assert second.token != first.token
    assert not await _complete(app, first)
    async with _maker(app)() as session:
        await idempotency_service.release(session, first)  # frees nothing: not its claim now
        await session.commit()
    assert await _complete(app, second)
    assert await _begin(app, NOW + timedelta(minutes=1)) == ANSWER


async def test_a_freed_key_runs_again(app):
    claim = await _begin(app, NOW)
    async with _maker(app)() as session:
        await idempotency_service.release(session, claim)
        await session.commit()
    assert isinstance(await _begin(app, NOW + timedelta(seconds=1)), Claim)


async def test_of_concurrent_claims_exactly_one_wins(app):
    results = await asyncio.gather(
        *(_begin(app, NOW, key="raced") for _ in range(10)), return_exceptions=True
    )
    claims = [r for r in results if isinstance(r, Claim)]
    assert len(claims) == 1, results
    assert all(isinstance(r, IdempotencyKeyInUse) for r in results if r not in claims), results


async def _add_rows(app: Quart, expiries: dict[str, datetime]) -> None:
    async with _maker(app)() as session, session.begin():
        for key, expires_at in expiries.items():
            session.add(
                IdempotencyKey(
                    scope="user:1",
                    key=key,
                    fingerprint="f" * 64,
                    token="t",
                    created_at=expires_at - idempotency_service.TTL,
                    expires_at=expires_at,
                    response_status=201,
                    response_headers=[],
                    response_body=b"{}",
                )
            )


async def _keys(app: Quart) -> list[str]:
    async with _maker(app)() as session:
        return sorted((await session.scalars(select(IdempotencyKey.key))).all())


async def test_the_clean_up_deletes_expired_keys_oldest_first_in_batches(app):
    hour = timedelta(hours=1)
    await _add_rows(
        app,
        {
            "e5": NOW - 5 * hour,
            "e3": NOW - 3 * hour,
            "e4": NOW - 4 * hour,
            "e1": NOW - hour,
            "e0": NOW,  # expires at this very moment: expired
            "live1": NOW + hour,
            "live2": NOW + 2 * hour,
        },
    )
    deleted = []
    for expected, left in [
        (2, ["e0", "e1", "e3", "live1", "live2"]),
        (2, ["e0", "live1", "live2"]),
        (1, ["live1", "live2"]),
        (0, ["live1", "live2"]),
    ]:
        async with _maker(app)() as session:
            deleted.append(await idempotency_service.delete_expired(session, now=NOW, limit=2))
            await session.commit()
        assert await _keys(app) == left
        assert deleted[-1] == expected
    with pytest.raises(ValueError, match="limit"):
        async with _maker(app)() as session:
            await idempotency_service.delete_expired(session, now=NOW, limit=0)


async def test_the_clean_up_reads_the_expiry_index_not_the_table(app):
    """The batch's plan walks ix_idempotency_keys_expires_at (PostgreSQL with sequential scans
    off, as a small test table would otherwise be scanned whole; a large one is not)."""
    await _add_rows(app, {f"k{n}": NOW - timedelta(minutes=n) for n in range(20)})
    engine = app.extensions["db"].engine
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with _maker(app)() as session:
            assert await idempotency_service.delete_expired(session, now=NOW, limit=5) == 5
            await session.rollback()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    ((statement, parameters),) = seen
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        plan = (await conn.exec_driver_sql(explain + statement, parameters)).all()
        await conn.rollback()
    described = "\n".join(str(row[-1]) for row in plan)
    assert "ix_idempotency_keys_expires_at" in described, described

"""Password hashing off the event loop, and tokens with a pinned algorithm."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service.crypto import InvalidToken, PasswordHasher, TokenCodec

SECRET = "k" * 40


@pytest.fixture
def hasher():
    h = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, threads=2)
    yield h
    h.close()


async def test_hash_and_verify_run_in_worker_threads(hasher, monkeypatch):
    seen: list[str] = []
    real = hasher._argon2

    class Recording:
        def hash(self, password: str) -> str:
            seen.append(threading.current_thread().name)
            return real.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            seen.append(threading.current_thread().name)
            return real.verify(password_hash, password)

    monkeypatch.setattr(hasher, "_argon2", Recording())
    hashed = await hasher.hash("a password")
    assert await hasher.verify(hashed, "a password")
    assert hashed.startswith("$argon2id$")
    assert len(seen) == 2
    assert all(name.startswith("argon2") for name in seen)
    assert threading.current_thread() is threading.main_thread()


async def test_event_loop_keeps_running_while_hashing(monkeypatch):
    # Eight slow hashes queued on two threads; the loop must still tick between them.
    slow = PasswordHasher(time_cost=2, memory_kib=8192, parallelism=1, threads=2)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stop))
    await asyncio.gather(*(slow.hash(f"password {i}") for i in range(8)))
    stop.set()
    await task
    slow.close()
    assert ticks > 100  # hashing on the loop itself would allow at most one tick per hash


async def test_verify(hasher):
    hashed = await hasher.hash("right password")
    assert await hasher.verify(hashed, "right password")
    assert not await hasher.verify(hashed, "wrong password")
    assert not await hasher.verify(None, "right password")
    assert not await hasher.verify("not a hash", "right password")


def test_token_round_trip_and_rejections():
    codec = TokenCodec(SECRET, ttl_seconds=60)
    assert codec.read(codec.issue(42)).user_id == 42
    expired = codec.issue(42, now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        codec.read(expired)
    with pytest.raises(InvalidToken):
        TokenCodec("another secret that is long enough", 60).read(codec.issue(42))
    none_alg = jwt.encode(
        {"sub": "42", "exp": 9_999_999_999, "iat": 1, "iss": "conduit-service"},
        None,
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        codec.read(none_alg)
    with pytest.raises(InvalidToken):
        codec.read(
            jwt.encode(
                {"sub": "0", "exp": 9_999_999_999, "iat": 1, "iss": "conduit-service"}, SECRET
            )
        )


def test_access_tokens_are_short_and_name_their_family():
    codec = TokenCodec(SECRET, ttl_seconds=3600, access_ttl_seconds=120, max_age_seconds=7200)
    issued = datetime.now(UTC).replace(microsecond=0)
    access = codec.issue(7, now=issued, family=3, access=True)
    claims = codec.read(access, now=issued)
    assert (claims.family, claims.access) == (3, True)
    assert claims.expires_at == issued + timedelta(seconds=120)
    with pytest.raises(InvalidToken):
        codec.read(access, now=issued + timedelta(seconds=121))
    conduit = codec.read(codec.issue(7, now=issued), now=issued)
    assert (conduit.family, conduit.access) == (None, False)
    assert conduit.expires_at == issued + timedelta(seconds=3600)


def test_without_legacy_tokens_only_access_tokens_are_read():
    legacy = TokenCodec(SECRET, ttl_seconds=3600, access_ttl_seconds=120)
    strict = TokenCodec(SECRET, ttl_seconds=3600, access_ttl_seconds=120, legacy=False)
    conduit, access = legacy.issue(7), legacy.issue(7, access=True)
    assert strict.read(access).user_id == 7
    for _ in range(2):  # refused whether remembered or not
        with pytest.raises(InvalidToken):
            strict.read(conduit)
    assert legacy.read(conduit).user_id == 7


def test_remembered_tokens_still_expire_and_stay_bounded():
    codec = TokenCodec(SECRET, ttl_seconds=60, remembered=2)
    issued = datetime.now(UTC)
    token = codec.issue(7, now=issued)
    assert codec.read(token).user_id == 7
    assert codec.read(token, now=issued + timedelta(seconds=59)).user_id == 7  # remembered
    with pytest.raises(InvalidToken):
        codec.read(token, now=issued + timedelta(seconds=61))
    others = [codec.issue(n) for n in (8, 9, 10)]
    assert [codec.read(t).user_id for t in others] == [8, 9, 10]
    assert len(codec._verified) == 2
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):  # refused each time, never remembered
        with pytest.raises(InvalidToken):
            codec.read(forged)
    assert forged not in codec._verified


def test_hashing_threads_run_at_lower_priority_than_the_event_loop():
    import os
    import threading

    from service.crypto import HASH_THREAD_NICENESS, PasswordHasher

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, threads=1)
    try:
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert hasher._pool.submit(niceness).result() == max(base, HASH_THREAD_NICENESS)
        assert niceness() == base  # the calling (event loop) thread is untouched
    finally:
        hasher.close()


class Blocking:
    """An argon2 stand-in whose hashes wait for `release`, counting the ones that ran."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran = 0

    def hash(self, password: str) -> str:
        self.ran += 1
        self.release.wait(5)
        return "$argon2id$blocked"


async def test_a_hash_that_would_wait_past_the_budget_is_refused_at_once():
    from service.errors import HashingBusy

    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, threads=1, queue_seconds=0.5)
    blocking = Blocking()
    hasher._argon2 = blocking  # type: ignore[assignment]
    hasher._mean_seconds = 0.4  # one hash running: a new one would be done in 0.8 s
    try:
        first = asyncio.create_task(hasher.hash("first"))
        await asyncio.sleep(0.05)
        assert hasher.expected_wait() == pytest.approx(0.8)
        with pytest.raises(HashingBusy) as refused:
            await hasher.hash("second")
        assert refused.value.status == 503
        assert refused.value.retry_after == 1
        blocking.release.set()
        assert await first == "$argon2id$blocked"
        assert blocking.ran == 1  # the refused one never reached a thread
        # Idle again: nothing waits, so the budget does not apply.
        assert await hasher.hash("third") == "$argon2id$blocked"
    finally:
        blocking.release.set()
        hasher.close()


async def test_within_the_budget_hashes_queue_and_the_mean_follows_the_measured_time():
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, threads=1, queue_seconds=60)
    blocking = Blocking()
    hasher._argon2 = blocking  # type: ignore[assignment]
    hasher._mean_seconds = 0.0
    try:
        first = asyncio.create_task(hasher.hash("first"))
        second = asyncio.create_task(hasher.hash("second"))
        await asyncio.sleep(0.2)
        blocking.release.set()
        assert await asyncio.gather(first, second) == ["$argon2id$blocked"] * 2
        assert blocking.ran == 2
        # A moving mean: 0.2 of the first (0.2 s) hash, then decayed by the instant second.
        assert 0.025 < hasher._mean_seconds < 0.2
    finally:
        hasher.close()


async def test_a_queued_hash_whose_request_is_cancelled_never_runs():
    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1, threads=1)
    blocking = Blocking()
    hasher._argon2 = blocking  # type: ignore[assignment]
    try:
        first = asyncio.create_task(hasher.hash("first"))
        queued = asyncio.create_task(hasher.hash("queued"))
        await asyncio.sleep(0.05)
        queued.cancel()  # the client went away, or the deadline passed
        with pytest.raises(asyncio.CancelledError):
            await queued
        blocking.release.set()
        await first
        await asyncio.sleep(0.05)
        assert blocking.ran == 1
        assert hasher._pending == 0
    finally:
        hasher.close()


def test_the_hashing_budget_never_outlasts_the_request_deadline():
    from service.config import load_config

    limits = {"request_timeout_seconds": 2, "db_statement_timeout_ms": 1000}
    longer = load_config("testing", hash_queue_seconds=30, **limits)
    shorter = load_config("testing", hash_queue_seconds=1, **limits)
    for settings, budget in ((longer, 2), (shorter, 1)):
        hasher = PasswordHasher.from_settings(settings)
        try:
            assert hasher._queue_seconds == budget
        finally:
            hasher.close()

"""Fixed-window counters for login and registration attempts: in Redis when REDIS_URL is set
(shared by every worker and instance), in process memory otherwise (per worker: fine for one
instance).

Attempts are counted before the password is checked, atomically, so a burst of parallel
guesses cannot slip past the limit: Redis increments and sets the expiry in one Lua call (not
INCR then EXPIRE, which can leave a key without TTL; see stack notes on quart-rate-limiter).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

log = logging.getLogger("service.ratelimit")

T = TypeVar("T")

# INCR and, on the first hit of a window, PEXPIRE: one atomic step. Returns count and ms left.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


# DECR only a live key above zero, so a give-back never creates a key without TTL.
_GIVE_BACK = """
if (tonumber(redis.call('GET', KEYS[1]) or '0') > 0) then return redis.call('DECR', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Hit:
    count: int
    retry_after: int  # seconds until the window ends


class Counters(Protocol):
    @property
    def available(self) -> bool: ...
    async def hit(self, key: str, window: int) -> Hit: ...
    async def forget(self, key: str) -> None: ...
    async def give_back(self, key: str) -> None: ...
    async def remember(self, key: str, seconds: float) -> None: ...
    async def seen(self, key: str) -> bool: ...
    async def close(self) -> None: ...


class MemoryCounters:
    """Per-process windows, bounded: expired keys are dropped as the table grows."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    @property
    def available(self) -> bool:
        """Always: this store is the process's own memory."""
        return True

    async def hit(self, key: str, window: int) -> Hit:
        now = time.monotonic()
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + window, 0
            if len(self._windows) >= self._max_keys:
                self._prune(now)
        count += 1
        self._windows[key] = (ends, count)
        return Hit(count, max(1, round(ends - now)))

    async def forget(self, key: str) -> None:
        self._windows.pop(key, None)

    async def give_back(self, key: str) -> None:
        ends, count = self._windows.get(key, (0.0, 0))
        if count > 0:
            self._windows[key] = (ends, count - 1)

    async def remember(self, key: str, seconds: float) -> None:
        now = time.monotonic()
        if key not in self._windows and len(self._windows) >= self._max_keys:
            self._prune(now)
        self._windows[key] = (now + seconds, 1)

    async def seen(self, key: str) -> bool:
        ends, count = self._windows.get(key, (0.0, 0))
        return count > 0 and ends > time.monotonic()

    async def close(self) -> None:
        self._windows.clear()

    def _prune(self, now: float) -> None:
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:  # all live: drop the oldest
            self._windows.pop(next(iter(self._windows)))


class RedisCounters:
    """Shared windows in Redis. If Redis fails (refused, reset, or silent past the 0.5 s socket
    timeout), this process counts in its own memory instead (still limited, per worker), never
    refusing or waving through every login and never answering 500.

    An outage is logged twice per process: when it begins and when Redis answers again, not
    at every attempt. While it lasts, Redis is asked again at most once per `retry_seconds`
    (the other attempts go straight to memory), so a Redis that hangs delays one attempt per
    worker per interval by the socket timeout, not every attempt. Counts made in memory stay
    there: when Redis is back, the shared windows go on from where they were.
    """

    def __init__(self, url: str, prefix: str, retry_seconds: float = 1.0) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_HIT)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._prefix = prefix
        self._fallback = MemoryCounters()
        self._retry_seconds = retry_seconds
        self._down_since: float | None = None  # monotonic time the outage began
        self._retry_at = 0.0

    @property
    def available(self) -> bool:
        """False while this process counts in memory because Redis failed."""
        return self._down_since is None

    async def _shared(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """`call`'s answer from Redis; None when Redis is (or has just been found) down."""
        now = time.monotonic()
        if self._down_since is not None and now < self._retry_at:
            return None
        try:
            answer = await call()
        except Exception as exc:  # any Redis failure: degrade, never 500 a login
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "rate limit store unavailable: counting in this process's memory until it "
                    "answers again",
                    extra={"fields": {"error": type(exc).__name__, "reason": str(exc)[:200]}},
                )
            self._retry_at = time.monotonic() + self._retry_seconds  # after the failed call
            return None
        if self._down_since is not None:
            log.warning(
                "rate limit store answers again: counting there",
                extra={"fields": {"outage_seconds": round(now - self._down_since, 3)}},
            )
            self._down_since = None
        return answer

    async def hit(self, key: str, window: int) -> Hit:
        answer = await self._shared(
            lambda: self._script(keys=[self._prefix + key], args=[window * 1000])
        )
        if answer is None:
            return await self._fallback.hit(key, window)
        count, ttl_ms = answer
        return Hit(int(count), max(1, -(-int(ttl_ms) // 1000)))

    async def forget(self, key: str) -> None:
        await self._shared(lambda: self._redis.delete(self._prefix + key))
        await self._fallback.forget(key)

    async def give_back(self, key: str) -> None:
        await self._shared(lambda: self._give_back(keys=[self._prefix + key]))
        await self._fallback.give_back(key)

    async def remember(self, key: str, seconds: float) -> None:
        await self._fallback.remember(key, seconds)
        milliseconds = max(1, round(seconds * 1000))
        await self._shared(lambda: self._redis.set(self._prefix + key, 1, px=milliseconds))

    async def seen(self, key: str) -> bool:
        answer = await self._shared(lambda: self._redis.exists(self._prefix + key))
        if answer is None:
            return await self._fallback.seen(key)
        return bool(answer)

    async def close(self) -> None:
        await self._redis.aclose()


def _digest(*parts: str) -> str:
    # Hashed: the store never holds email addresses, and keys have a fixed length.
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return f"login:account:{_digest(_email(email))}"


def pair_key(email: str, address: str | None) -> str:
    return f"login:pair:{_digest(_email(email), address or 'unknown')}"


def known_key(email: str, address: str | None) -> str:
    return f"login:known:{_digest(_email(email), address or 'unknown')}"


def address_key(address: str | None) -> str:
    return f"login:address:{address or 'unknown'}"


@dataclass
class LoginLimiter:
    """Failed login attempts per window: at most `per_account_address` on one account from one
    client address, `per_address` from one address on any accounts, and `per_account` on one
    account from all addresses together.

    The first limit slows a guesser down without touching the owner elsewhere; the last is a
    ceiling for guessers spread over many addresses, and it does not hold an address the
    account signed in from within `known_for` seconds, so strangers cannot keep the owner out
    of their account from where they usually sign in. Every attempt counts up front (a burst
    of parallel guesses cannot slip past); a success takes its attempt back and clears the
    (account, address) count, so only failures add up.
    """

    counters: Counters
    per_account_address: int
    per_account: int
    per_address: int
    window: int
    known_for: int

    async def attempt(self, email: str, address: str | None) -> int:
        """0 when the attempt may go ahead, else the seconds to wait (Retry-After)."""
        by_pair = await self.counters.hit(pair_key(email, address), self.window)
        by_address = await self.counters.hit(address_key(address), self.window)
        by_account = await self.counters.hit(account_key(email), self.window)
        waits = [
            hit.retry_after
            for hit, limit in ((by_pair, self.per_account_address), (by_address, self.per_address))
            if hit.count > limit
        ]
        if by_account.count > self.per_account and not await self.counters.seen(
            known_key(email, address)
        ):
            waits.append(by_account.retry_after)
        return max(waits, default=0)

    async def withdrawn(self, email: str, address: str | None) -> None:
        """An attempt refused before its password was checked (the server was busy) takes
        its count back: it was not a failure."""
        await self.counters.give_back(pair_key(email, address))
        await self.counters.give_back(address_key(address))
        await self.counters.give_back(account_key(email))

    async def succeeded(self, email: str, address: str | None) -> None:
        # The account's count is not cleared: the owner signing in must not hand a guesser
        # elsewhere a fresh ceiling.
        await self.counters.forget(pair_key(email, address))
        await self.counters.give_back(address_key(address))
        await self.counters.give_back(account_key(email))
        await self.counters.remember(known_key(email, address), self.known_for)


def registration_key(address: str | None) -> str:
    return f"register:address:{address or 'unknown'}"


@dataclass
class RegistrationLimiter:
    """At most `per_address` registration attempts from one client address per window,
    refused ones (a taken name) included: each costs a query, and a new account a hash."""

    counters: Counters
    per_address: int
    window: int

    async def attempt(self, address: str | None) -> int:
        """0 when the attempt may go ahead, else the seconds to wait (Retry-After)."""
        hit = await self.counters.hit(registration_key(address), self.window)
        return hit.retry_after if hit.count > self.per_address else 0

    async def withdrawn(self, address: str | None) -> None:
        """Refused because the server was busy: not counted."""
        await self.counters.give_back(registration_key(address))


def reset_address_key(address: str | None) -> str:
    return f"reset:address:{address or 'unknown'}"


def reset_account_key(email: str) -> str:
    return f"reset:account:{_digest(_email(email))}"


@dataclass
class PasswordResetLimiter:
    """Reset requests per window: at most `per_address` from one client address and
    `per_account` for one email address (from anywhere).

    The second is keyed on the email as sent, never on a lookup, so it answers alike whether
    or not an account uses it; it keeps anyone from filling an inbox with reset emails."""

    counters: Counters
    per_address: int
    per_account: int
    window: int

    async def attempt(self, email: str, address: str | None) -> int:
        """0 when the request may go ahead, else the seconds to wait (Retry-After)."""
        by_address = await self.counters.hit(reset_address_key(address), self.window)
        by_account = await self.counters.hit(reset_account_key(email), self.window)
        waits = [
            hit.retry_after
            for hit, limit in ((by_address, self.per_address), (by_account, self.per_account))
            if hit.count > limit
        ]
        return max(waits, default=0)

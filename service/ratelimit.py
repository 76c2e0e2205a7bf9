"""Fixed-window counters for login attempts: in Redis when REDIS_URL is set (shared by every
worker and instance), in process memory otherwise (per worker: fine for one instance).

Attempts are counted before the password is checked, atomically, so a burst of parallel
guesses cannot slip past the limit: Redis increments and sets the expiry in one Lua call (not
INCR then EXPIRE, which can leave a key without TTL; see stack notes on quart-rate-limiter).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("service.ratelimit")

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
    async def hit(self, key: str, window: int) -> Hit: ...
    async def forget(self, key: str) -> None: ...
    async def give_back(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemoryCounters:
    """Per-process windows, bounded: expired keys are dropped as the table grows."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

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

    async def close(self) -> None:
        self._windows.clear()

    def _prune(self, now: float) -> None:
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:  # all live: drop the oldest
            self._windows.pop(next(iter(self._windows)))


class RedisCounters:
    """Shared windows in Redis. If Redis fails, this process falls back to its own memory
    counters (still limited, per worker) and logs it, rather than locking everyone out."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_HIT)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._prefix = prefix
        self._fallback = MemoryCounters()

    async def hit(self, key: str, window: int) -> Hit:
        try:
            count, ttl_ms = await self._script(keys=[self._prefix + key], args=[window * 1000])
        except Exception as exc:  # any Redis failure: degrade, never 500 a login
            log.warning("rate limit store unavailable, counting in memory: %s", exc)
            return await self._fallback.hit(key, window)
        return Hit(int(count), max(1, -(-int(ttl_ms) // 1000)))

    async def forget(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except Exception as exc:
            log.warning("rate limit store unavailable: %s", exc)
        await self._fallback.forget(key)

    async def give_back(self, key: str) -> None:
        try:
            await self._give_back(keys=[self._prefix + key])
        except Exception as exc:
            log.warning("rate limit store unavailable: %s", exc)
        await self._fallback.give_back(key)

    async def close(self) -> None:
        await self._redis.aclose()


def account_key(email: str) -> str:
    # Hashed: the store never holds addresses, and keys have a fixed length.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"login:account:{digest}"


def address_key(address: str | None) -> str:
    return f"login:address:{address or 'unknown'}"


@dataclass
class LoginLimiter:
    """At most `per_account` failed attempts on one account and `per_address` from one client
    address per window. Every attempt counts up front; a successful login takes its attempt
    back from the address and clears the account's count, so only failures add up."""

    counters: Counters
    per_account: int
    per_address: int
    window: int

    async def attempt(self, email: str, address: str | None) -> int:
        """0 when the attempt may go ahead, else the seconds to wait (Retry-After)."""
        by_account = await self.counters.hit(account_key(email), self.window)
        by_address = await self.counters.hit(address_key(address), self.window)
        waits = [
            hit.retry_after
            for hit, limit in ((by_account, self.per_account), (by_address, self.per_address))
            if hit.count > limit
        ]
        return max(waits, default=0)

    async def withdrawn(self, email: str, address: str | None) -> None:
        """An attempt refused before its password was checked (the server was busy) takes
        its count back: it was not a failure."""
        await self.counters.give_back(account_key(email))
        await self.counters.give_back(address_key(address))

    async def succeeded(self, email: str, address: str | None) -> None:
        await self.counters.forget(account_key(email))
        await self.counters.give_back(address_key(address))

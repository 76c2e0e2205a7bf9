"""Password hashing (argon2id, off the event loop) and signed access tokens (JWT).

Pure code: no web framework, so services can take these objects as arguments.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import jwt
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from service.config import Settings
from service.errors import HashingBusy

T = TypeVar("T")

JWT_ALGORITHM = "HS256"  # pinned: decode accepts nothing else, "none" included
ACCESS_TYPE = "access"  # the `typ` claim of a short-lived access token


HASH_THREAD_NICENESS = 10


def _lower_priority() -> None:
    """Hashing threads yield the CPU to the event loop: under a login burst argon2 can fill
    every core, and requests that need no hash should not wait for it. Linux keeps a nice
    value per thread (and argon2's lane threads inherit it); raising one needs no privilege."""
    with suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


class PasswordHasher:
    """argon2id in a bounded thread pool: a login burst queues here instead of stalling requests.

    The queue is bounded in time, not length: when a new hash would wait longer than
    `queue_seconds` (queued hashes x the recent mean hash time / threads) it is refused at once
    with HashingBusy (503, Retry-After), instead of holding the client until its own timeout
    or the request deadline. The mean adapts to the machine and to the load.

    It is shared fairly: one owner (the client address the `owner` hook names) has at most
    `per_owner` hashes running or queued, so a client flooding registrations or logins fills
    its own share and is refused (503), while the rest of the queue stays for everyone else.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        threads: int,
        queue_seconds: float = math.inf,
        per_owner: int | None = None,
    ) -> None:
        # Entered around each hash, e.g. to give back an admission slot while waiting.
        self.around: Callable[[], AbstractAsyncContextManager[None]] = nullcontext
        # Who a hash is for (a client address); None: nobody in particular, no share applies.
        self.owner: Callable[[], str | None] = lambda: None
        self._per_owner = per_owner
        self._pending_by_owner: dict[str, int] = {}
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._threads = threads
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._queue_seconds = queue_seconds
        self._pending = 0  # hashes submitted and not finished: running plus queued
        started = time.perf_counter()
        # Verified against when the account does not exist, so both paths cost one hash.
        self._dummy_hash = self._argon2.hash("dummy password for unknown accounts")
        self._mean_seconds = time.perf_counter() - started  # first estimate, idle machine

    @classmethod
    def from_settings(cls, settings: Settings, threads: int | None = None) -> PasswordHasher:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            threads=threads or settings.hash_threads,
            # Waiting past the deadline would end in a 503 anyway, only later.
            queue_seconds=min(settings.hash_queue_seconds, settings.request_timeout_seconds),
            per_owner=settings.hash_queue_per_address,
        )

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash, spends the same time and says False."""
        target = password_hash or self._dummy_hash
        ok = await self._run(self._check, target, password)
        return ok and password_hash is not None

    def expected_wait(self) -> float:
        """Seconds until a hash submitted now would be done, from the recent mean."""
        return (self._pending // self._threads + 1) * self._mean_seconds

    def check_capacity(self) -> None:
        """HashingBusy when a hash submitted now would finish past the queue budget, or when
        its owner already has its share pending; callers may ask before the work that leads to
        a hash, so a refusal costs next to nothing."""
        owner = self.owner()
        if (
            owner is not None
            and self._per_owner is not None
            and self._pending_by_owner.get(owner, 0) >= self._per_owner
        ):
            raise HashingBusy(retry_after=math.ceil(self.expected_wait()))
        if self._pending >= self._threads:
            wait = self.expected_wait()
            if wait > self._queue_seconds:
                raise HashingBusy(retry_after=math.ceil(wait))

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        self.check_capacity()
        owner = self.owner()
        self._pending += 1
        if owner is not None:
            self._pending_by_owner[owner] = self._pending_by_owner.get(owner, 0) + 1
        try:
            loop = asyncio.get_running_loop()
            async with self.around():
                # Cancelled while still queued (client gone, deadline), the hash never runs.
                return await loop.run_in_executor(self._pool, self._timed, work, *args)
        finally:
            self._pending -= 1
            if owner is not None:
                left = self._pending_by_owner.pop(owner) - 1
                if left:
                    self._pending_by_owner[owner] = left

    def _timed(self, work: Callable[..., T], *args: object) -> T:
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            # A moving mean (a float store is atomic under the GIL): follows contention.
            elapsed = time.perf_counter() - started
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * elapsed

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    expires_at: datetime
    # The user's credentials version when issued: a password change or "sign out
    # everywhere" raises the user's, and every token with an older one stops working.
    version: int
    # When the user proved who they are (the login); renewals carry it over unchanged.
    auth_time: datetime
    # The refresh-token family (one login) the token belongs to: revoking the family (logout,
    # reuse of a refresh token) ends the token too. None for tokens of no family.
    family: int | None = None
    # A short-lived access token (ACCESS_TOKEN_TTL_SECONDS), as /api/users/refresh hands out;
    # False for a Conduit token (JWT_TTL_SECONDS), refused when LEGACY_TOKENS is off.
    access: bool = False


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not ours."""


class ExpiredToken(InvalidToken):
    """The token is ours and was valid, but its time is up."""


class TokenCodec:
    """Issues and reads the API's JWTs.

    Verifying a token (PyJWT's decode: base64, JSON, HMAC, claim checks) is a sizeable share
    of a small authenticated request, and clients send the same token many times; so the
    claims of tokens that verified are kept, a bounded number, oldest dropped first. Only
    verified tokens enter (a forged one is verified, and refused, every time) and expiry is
    checked on every read, so the answer is the one a fresh decode would give. Whether the
    token's credentials version is still the user's is for the caller to check, against the
    user row it loads on every request anyway.

    A token lives `ttl_seconds` (an access token `access_ttl_seconds`), and never past
    `max_age_seconds` after its `auth_time` (the login it descends from): renewal cannot keep a
    stolen token alive for ever. With `legacy` off, only access tokens are accepted.
    """

    def __init__(
        self,
        secret: str,
        ttl_seconds: int,
        issuer: str = "conduit-service",
        remembered: int = 4096,
        max_age_seconds: int | None = None,
        access_ttl_seconds: int | None = None,
        legacy: bool = True,
    ) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)
        self._access_ttl = timedelta(seconds=access_ttl_seconds or ttl_seconds)
        self._legacy = legacy
        self._max_age = timedelta(seconds=max_age_seconds or ttl_seconds)
        self._issuer = issuer
        self._remembered = remembered
        self._verified: dict[str, TokenClaims] = {}

    def issue(
        self,
        user_id: int,
        now: datetime | None = None,
        *,
        version: int = 0,
        auth_time: datetime | None = None,
        family: int | None = None,
        access: bool = False,
    ) -> str:
        """A token for `user_id`; a renewal passes the `auth_time` of the token it replaces.
        `access` makes a short-lived access token; `family` ties it to a refresh-token family."""
        issued = now or datetime.now(UTC)
        # Whole seconds, as JWT carries them: the cap below is the one read() enforces.
        authenticated = (auth_time or issued).replace(microsecond=0)
        ttl = self._access_ttl if access else self._ttl
        claims: dict[str, object] = {
            "sub": str(user_id),  # PyJWT rejects a non-string sub on decode
            "iat": issued,
            "exp": min(issued + ttl, authenticated + self._max_age),
            "iss": self._issuer,
            "ver": version,
            "auth_time": int(authenticated.timestamp()),  # PyJWT converts only exp, iat, nbf
        }
        if family is not None:
            claims["fam"] = family
        if access:
            claims["typ"] = ACCESS_TYPE
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def read(self, token: str, now: datetime | None = None) -> TokenClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token, now or datetime.now(UTC))
            if len(self._verified) >= self._remembered:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        moment = now or datetime.now(UTC)
        if claims.expires_at <= moment:
            raise ExpiredToken("Signature has expired")
        if claims.auth_time + self._max_age <= moment:  # issued under a longer lifetime
            raise ExpiredToken("login too old")
        if not claims.access and not self._legacy:
            raise InvalidToken("Conduit tokens are off (LEGACY_TOKENS=false)")
        return claims

    def _decode(self, token: str, now: datetime) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                issuer=self._issuer,
                # Expiry is checked below, once the claims are known to be of our kinds.
                options={"require": ["sub", "exp", "iat", "iss"], "verify_exp": False},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # PyJWT raises TypeError for some
            raise InvalidToken(str(exc)) from exc
        sub, exp, iat = claims["sub"], claims["exp"], claims["iat"]
        # Only claims of the kinds `issue` writes: PyJWT lets through any value int() takes
        # ("9999999999", 1e20, true), which no datetime or user id can be made of.
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
            raise InvalidToken("sub is not a user id")
        if type(exp) is not int or type(iat) is not int:
            raise InvalidToken("exp and iat must be integers")
        try:
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise InvalidToken("exp is out of range") from exc
        if expires_at <= now:
            raise ExpiredToken("Signature has expired")
        user_id = int(sub)
        if user_id < 1:
            raise InvalidToken("bad subject")
        # Tokens from before these claims: version 0, authenticated when issued.
        version, auth = claims.get("ver", 0), claims.get("auth_time", iat)
        if type(version) is not int or type(auth) is not int:
            raise InvalidToken("ver and auth_time must be integers")
        try:
            auth_time = datetime.fromtimestamp(auth, UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise InvalidToken("auth_time is out of range") from exc
        family, kind = claims.get("fam"), claims.get("typ")
        if family is not None and (type(family) is not int or family < 1):
            raise InvalidToken("fam must be a positive integer")
        if kind is not None and kind != ACCESS_TYPE:
            raise InvalidToken("unknown typ")
        return TokenClaims(
            user_id=user_id,
            expires_at=expires_at,
            version=version,
            auth_time=auth_time,
            family=family,
            access=kind == ACCESS_TYPE,
        )

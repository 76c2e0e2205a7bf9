"""Idempotency keys: a retry of a request that creates something gets the first answer.

The rules (README, "Idempotency keys"):
- A key belongs to its caller (`user:<id>`; for registration, a keyed hash of the client
  address) and names one request: method, path and body (JSON compared as data, so spacing
  and key order do not matter). The same key with another request is IdempotencyKeyReused (422).
- The first request claims the key with an INSERT that the primary key lets only one of any
  number of concurrent requests win; the others see it in flight: IdempotencyKeyInUse (409,
  Retry-After). A claim older than the request deadline with no answer is stale (its request
  cannot still be running) and the next retry takes it over.
- The answer is stored for `TTL`; expiry is checked on every read, so an expired key runs
  anew. Expired rows are deleted by a periodic job (`delete_expired`), never on a request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.idempotency import idempotency_key_dao
from service.errors import IdempotencyKeyInUse, IdempotencyKeyInvalid, IdempotencyKeyReused
from service.models.idempotency import KEY_MAX

TTL = timedelta(hours=24)
# Printable ASCII, space included (a header value cannot begin or end with one).
_KEY = re.compile(rf"[\x20-\x7e]{{1,{KEY_MAX}}}")
# Rounds of claim-or-read before giving up as "in use": each lost round means another request
# changed the row in between (freed it, took it over), so more than a few is a busy key.
_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key: it runs, then stores its answer (or frees the key)."""

    scope: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[list[str]]
    body: bytes


def check_key(value: str) -> str:
    """The key as sent; IdempotencyKeyInvalid (422) unless 1..255 printable ASCII characters."""
    if not _KEY.fullmatch(value):
        raise IdempotencyKeyInvalid()
    return value


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def address_scope(address: str | None, secret: str) -> str:
    """Anonymous callers (registration) are told apart by their address, kept only as a keyed
    hash: the table never holds client addresses."""
    digest = hmac.new(secret.encode(), (address or "").encode(), hashlib.sha256).hexdigest()
    return f"address:{digest[:32]}"


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same one: method, path and body (JSON as data)."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: no two splits collide
        digest.update(part)
    return digest.hexdigest()


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def begin(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    stale_after: timedelta,
) -> Claim | StoredResponse:
    """Claim `key` for this request, or the answer stored for it. IdempotencyKeyReused (422)
    when it was used for another request, IdempotencyKeyInUse (409) while that one runs.
    The caller commits at once, so that concurrent retries see the claim."""
    token = secrets.token_hex(16)
    expires_at = now + TTL
    stale_before = now - stale_after
    for _ in range(_ROUNDS):
        if await idempotency_key_dao.claim(
            session,
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            token=token,
            now=now,
            expires_at=expires_at,
        ):
            return Claim(scope, key, token)
        row = await idempotency_key_dao.get(session, scope, key)
        if row is None:  # freed or cleaned up since the INSERT: claim again
            continue
        if _utc(row.expires_at) > now:  # an expired key is never served: it runs anew
            if row.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if row.response_status is not None:
                return StoredResponse(
                    row.response_status, row.response_headers or [], row.response_body or b""
                )
            if _utc(row.created_at) > stale_before:
                raise IdempotencyKeyInUse(retry_after=1)
        if await idempotency_key_dao.take_over(
            session,
            scope=scope,
            key=key,
            old_token=row.token,
            new_token=token,
            fingerprint=fingerprint,
            now=now,
            expires_at=expires_at,
            stale_before=stale_before,
        ):
            return Claim(scope, key, token)
    raise IdempotencyKeyInUse(retry_after=1)


async def complete(session: AsyncSession, claim: Claim, response: StoredResponse) -> bool:
    """Store the answer, in the transaction that made what it describes; False when the claim
    was taken over meanwhile (this request must then change nothing)."""
    return await idempotency_key_dao.complete(
        session,
        scope=claim.scope,
        key=claim.key,
        token=claim.token,
        status=response.status,
        headers=response.headers,
        body=response.body,
    )


async def release(session: AsyncSession, claim: Claim) -> None:
    """Free the key of a request that failed (5xx, cancelled): a retry runs again."""
    await idempotency_key_dao.release(session, scope=claim.scope, key=claim.key, token=claim.token)


async def delete_expired(session: AsyncSession, *, now: datetime, limit: int = 1000) -> int:
    """One batch of the periodic clean-up: up to `limit` expired keys deleted, how many went.
    The job commits each batch and calls again while a batch comes back full."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return await idempotency_key_dao.delete_expired(session, now, limit)

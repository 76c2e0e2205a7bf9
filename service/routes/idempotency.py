"""`@idempotent`: the Idempotency-Key header on the POSTs that create something.

Placed below the auth decorator (the key belongs to the caller, and 401 comes first) and below
`json_body` (a body that fails validation is refused before the key is claimed, as Stripe
does, so a corrected body may reuse the key). Without the header nothing changes.

With it, the request's session does three things the rest of the app leaves to db.py:
- the claim is committed at once, in a short transaction of its own, so concurrent retries
  (any worker, any instance) see it while this request runs;
- a success (below 400) stores its answer in the request's own transaction, committed by
  db.py with what it created: both stay, or neither;
- a failure's writes are rolled back here, then in a second short transaction a 4xx answer
  is stored (it is the request's answer: a retry gets it again) except 408 and 429, which
  say "try again"; a 5xx or a cancelled request (deadline, client gone) frees the key so a
  retry runs again. A request that cannot do this (the database gone, the worker killed)
  leaves a claim that turns stale after the request deadline; the next retry takes it over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from quart import Response, current_app, request
from quart.typing import ResponseTypes
from quart_schema import document_headers
from quart_schema.validation import QUART_SCHEMA_RESPONSE_ATTRIBUTE
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import Headers

from service import db, deadline, security
from service.errors import (
    IDEMPOTENCY_KEY,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyKeyTakenOver,
)
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.schemas.idempotency import IdempotencyHeaders
from service.services import idempotency as idempotency_service
from service.services.idempotency import Claim, StoredResponse

log = logging.getLogger("service.idempotency")

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_HEADER = IDEMPOTENCY_KEY
REPLAYED_HEADER = "Idempotent-Replayed"
# Answers that say "try again": never stored, the key is freed.
RETRYABLE_4XX = frozenset({408, 429})
# Headers of one exchange, not of the answer: never stored (Set-Cookie least of all).
_NOT_STORED = frozenset(
    {
        "content-length",
        "connection",
        "date",
        "keep-alive",
        "server",
        "set-cookie",
        "transfer-encoding",
        "x-request-id",
    }
)
# Settling a failed request's key must not hold its answer much longer (after a cancellation
# least of all); if it cannot, the claim turns stale after the deadline and is taken over.
_SETTLE_SECONDS = 2.0


def idempotent(func: F) -> F:
    """Honour Idempotency-Key on this route (README, "Idempotency keys")."""

    @wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        sent = request.headers.getlist(IDEMPOTENCY_HEADER)
        if not sent:
            return await func(*args, **kwargs)
        if len(sent) > 1:
            raise IdempotencyKeyInvalid(message="must be sent once")
        key = idempotency_service.check_key(sent[0])
        session = db.session()
        begun = await idempotency_service.begin(
            session,
            scope=_scope(),
            key=key,
            fingerprint=idempotency_service.fingerprint(
                request.method,
                request.path,
                await request.get_data(cache=True, as_text=False, parse_form_data=False),
            ),
            now=datetime.now(UTC),
            stale_after=timedelta(seconds=current_app.config["REQUEST_TIMEOUT_SECONDS"]),
        )
        await session.commit()  # the claim stands on its own, whatever becomes of the request
        if isinstance(begun, StoredResponse):
            return _replay(begun)
        return await _run(session, begun, func, args, kwargs)

    document_headers(IdempotencyHeaders)(wrapper)
    errors(*KEY_ERRORS)(wrapper)
    created = [code for code in getattr(func, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {}) if code < 300]
    answers(*(Answer(code, "", headers=(REPLAYED_HEADER,)) for code in created))(wrapper)
    return wrapper  # type: ignore[return-value]


# For /openapi.json (the header itself: schemas.idempotency).
KEY_ERRORS = (
    ErrorDoc.of(
        IdempotencyKeyInUse,
        "a request with this Idempotency-Key is still in progress: retry after `Retry-After` "
        "seconds for its answer",
    ),
    ErrorDoc.of(
        IdempotencyKeyTakenOver,
        "this request outlived its claim on the key and a retry took it over; nothing was kept",
    ),
    ErrorDoc.of(IdempotencyKeyInvalid, "the Idempotency-Key header is malformed"),
    ErrorDoc.of(IdempotencyKeyInvalid(message="must be sent once"), "two Idempotency-Key headers"),
    ErrorDoc.of(
        IdempotencyKeyReused, "the key was used with another method, path or body in 24 hours"
    ),
)


def _scope() -> str:
    user = security.current_user_or_none()  # set by the auth decorator above
    if user is not None:
        return idempotency_service.user_scope(user.id)
    return idempotency_service.address_scope(request.remote_addr, current_app.config["SECRET_KEY"])


def _replay(stored: StoredResponse) -> Response:
    headers = Headers([(name, value) for name, value in stored.headers])
    response = Response(stored.body, status=stored.status, headers=headers)
    response.headers[REPLAYED_HEADER] = "true"
    return response


async def _run(
    session: AsyncSession, claim: Claim, func: Callable[..., Any], args: Any, kwargs: Any
) -> ResponseTypes:
    try:
        try:
            response = await current_app.make_response(await func(*args, **kwargs))
        except Exception as exc:  # answered by the app's handlers, as it would be above us
            response = await current_app.make_response(await current_app.handle_user_exception(exc))
    except BaseException:  # cancelled (deadline, client gone): free the key, then go on
        async with deadline.settling():  # bounded by _SETTLE_SECONDS
            await _after_failure(session, claim, None)
        raise
    headers = response.headers.items()
    kept = [[name, value] for name, value in headers if name.lower() not in _NOT_STORED]
    answer = StoredResponse(response.status_code, kept, await _body(response))
    if answer.status < 400:
        if not await idempotency_service.complete(session, claim, answer):
            raise IdempotencyKeyTakenOver()  # a 409: db.py rolls back what this request made
        return response  # db.py commits the answer with what it describes
    await _after_failure(session, claim, answer)
    return response


async def _body(response: ResponseTypes) -> bytes:
    if isinstance(response, Response):
        return await response.get_data(as_text=False)
    return response.get_data(as_text=False)  # werkzeug's, e.g. a redirect


async def _after_failure(
    session: AsyncSession, claim: Claim, answer: StoredResponse | None
) -> None:
    """Roll back the request's writes (as db.py would), then store its 4xx answer or free the
    key. The client gets the request's own answer even if this fails: it is logged, and the
    claim is left to turn stale."""
    if answer is not None and (answer.status >= 500 or answer.status in RETRYABLE_4XX):
        answer = None  # nothing worth replaying: the key is freed
    try:
        async with asyncio.timeout(_SETTLE_SECONDS):
            await session.rollback()
            if answer is None:
                await idempotency_service.release(session, claim)
            else:
                await idempotency_service.complete(session, claim, answer)
            await session.commit()
    except Exception:
        log.warning(
            "could not settle an idempotency key; a retry takes it over after the deadline",
            exc_info=True,
        )

"""The audit log: security events recorded in the transaction of the change they describe,
and the admins' listing of them.

Each event names its type, the acting user (None when nobody is signed in: a failed login, an
operator's command), the user it concerns, the client address and request id it came from,
and when. Nothing secret goes in: no password, token, hash or email.

A failed login changes nothing, and its request answers 401, which rolls the request's
transaction back: it is recorded in a short transaction of its own
(`users.record_failed_login`), as is the reuse of a refresh token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.audit import audit_event_dao
from service.errors import Invalid, UserForbidden
from service.models import MAX_ID, AuditEvent, User
from service.models.audit import ADDRESS_MAX, REQUEST_ID_MAX
from service.models.base import utcnow


class EventType(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    USER_REGISTERED = "user.registered"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105  (an event name)
    ROLE_CHANGED = "role.changed"
    # Every token, refresh family and browser session of the target: sign-out everywhere,
    # an admin's revoke-all, a password change.
    CREDENTIALS_REVOKED = "credentials.revoked"
    # One refresh family (one login's tokens): POST /api/users/logout.
    REFRESH_REVOKED = "refresh.revoked"
    # A spent refresh token presented again: its family is revoked.
    REFRESH_REUSED = "refresh.reused"
    # One browser session ended on the server: sign-out from the page.
    SESSION_REVOKED = "session.revoked"
    # An admin deleted a webhook (possibly another admin's): the one deletion of another
    # user's content an admin can make; articles and comments only their authors delete.
    WEBHOOK_DELETED = "webhook.deleted"


@dataclass(frozen=True)
class Origin:
    """Where a change came from: the client address and the request id (None for both from
    the command line)."""

    address: str | None = None
    request_id: str | None = None


COMMAND_LINE = Origin()


async def record(
    session: AsyncSession,
    event_type: EventType,
    origin: Origin,
    *,
    actor: int | None,
    target: int | None,
) -> AuditEvent:
    """Append an event in the caller's transaction: it commits with the change, or not at all."""
    event = AuditEvent(
        type=event_type.value,
        actor_id=actor,
        target_id=target,
        address=origin.address[:ADDRESS_MAX] if origin.address else None,
        request_id=origin.request_id[:REQUEST_ID_MAX] if origin.request_id else None,
        at=utcnow(),
    )
    return await audit_event_dao.add(session, event)


# Listing


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[AuditEvent]
    next_cursor: str | None


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    delta = _aware(value) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_cursor(event: AuditEvent) -> str:
    """An opaque cursor naming the position after `event`: its time (µs) and id."""
    raw = f"{_micros(event.at)}.{event.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The keyset a cursor names; Invalid (422 `cursor`) for anything `encode_cursor` did not
    make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, _, event_id = raw.partition(".")
        if not (micros.isdigit() and event_id.isdigit() and 0 < int(event_id) <= MAX_ID):
            raise ValueError(raw)
        return EPOCH + timedelta(microseconds=int(micros)), int(event_id)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError) as exc:
        raise Invalid("cursor", "is invalid") from exc


async def list_events(
    session: AsyncSession,
    viewer: User,
    *,
    actor: int | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> AuditPage:
    """Admins only (UserForbidden otherwise): a page of events, newest first, and the cursor
    of the next page (None on the last one)."""
    if not viewer.is_admin:
        raise UserForbidden()
    after = decode_cursor(cursor) if cursor is not None else None
    # One more than asked: whether a next page exists, without counting.
    rows = await audit_event_dao.list_page(
        session,
        actor_id=actor,
        event_type=event_type,
        since=_aware(since) if since is not None else None,
        until=_aware(until) if until is not None else None,
        after=after,
        limit=limit + 1,
    )
    events = rows[:limit]
    more = len(rows) > limit
    return AuditPage(events, encode_cursor(events[-1]) if more else None)

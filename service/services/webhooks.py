"""Webhooks: admins register endpoints for site-wide events; each event becomes one signed
message per subscribed endpoint, delivered by a job with retries.

Signing follows the Standard Webhooks specification (the `standardwebhooks` package):
`webhook-id` (the message's id, the same on every retry: receivers dedupe by it),
`webhook-timestamp` (seconds, per attempt) and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `id.timestamp.body` with the endpoint's secret).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook as Signer

from service.clients.webhook_http import AddressRefused, WebhookClient
from service.daos.webhooks import webhook_dao
from service.errors import Invalid, NotFound, UserForbidden
from service.models import User, Webhook, WebhookDelivery, WebhookMessage
from service.models.base import utcnow
from service.services import audit, jobs
from service.services.audit import EventType, Origin

DELIVER_JOB = "webhooks.deliver"
EVENTS = ("article.published", "article.updated", "comment.created", "profile.followed")
MAX_WEBHOOKS = 100
SECRET_BYTES = 32


class WebhookNotFound(NotFound):
    key = "webhook"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to; `retry` asks the job to try again later."""

    delivered: bool
    retry: bool
    detail: str | None = None


def _require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise UserForbidden("webhook", "only admins manage webhooks")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


async def register(
    session: AsyncSession, client: WebhookClient, actor: User, url: str, events: Sequence[str]
) -> Webhook:
    """A new endpoint (admins only); Invalid for unknown events or a URL that may not be
    called (checked again at every delivery: where a name points can change)."""
    _require_admin(actor)
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise Invalid("events", f"unknown: {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    if not events:
        raise Invalid("events", "can't be empty")
    try:
        await client.resolve(url)
    except AddressRefused as exc:
        raise Invalid("url", str(exc)) from exc
    if len(await webhook_dao.list_all(session)) >= MAX_WEBHOOKS:
        raise Invalid("webhook", f"at most {MAX_WEBHOOKS} webhooks")
    webhook = Webhook(
        owner_id=actor.id,
        url=url,
        events=sorted(set(events)),
        secret=new_secret(),
        active=True,
        consecutive_failures=0,
    )
    return await webhook_dao.add(session, webhook)


async def list_all(session: AsyncSession, actor: User) -> Sequence[Webhook]:
    _require_admin(actor)
    return await webhook_dao.list_all(session)


async def _get(session: AsyncSession, actor: User, webhook_id: int) -> Webhook:
    _require_admin(actor)
    webhook = await webhook_dao.get(session, webhook_id)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def delete(session: AsyncSession, actor: User, webhook_id: int, *, origin: Origin) -> None:
    """Delete an endpoint (admins only, whoever registered it), recorded in the audit log with
    its owner as the target."""
    webhook = await _get(session, actor, webhook_id)
    owner_id = webhook.owner_id
    await webhook_dao.delete(session, webhook)
    await audit.record(session, EventType.WEBHOOK_DELETED, origin, actor=actor.id, target=owner_id)


async def deliveries(
    session: AsyncSession, actor: User, webhook_id: int, limit: int
) -> Sequence[tuple[WebhookDelivery, str]]:
    webhook = await _get(session, actor, webhook_id)
    return await webhook_dao.list_deliveries(session, webhook.id, limit)


async def emit(session: AsyncSession, event: str, data: dict[str, Any]) -> int:
    """In the caller's transaction: one message and one delivery job per active endpoint
    subscribed to `event`; none if the caller rolls back. The number of messages made."""
    made = 0
    now = utcnow()
    for webhook in await webhook_dao.list_active(session):
        if event not in webhook.events:
            continue
        message_id = "msg_" + secrets.token_urlsafe(18)
        body = orjson.dumps({"type": event, "timestamp": now.isoformat(), "data": data})
        message = await webhook_dao.add_message(
            session,
            WebhookMessage(
                webhook_id=webhook.id, message_id=message_id, event=event, payload=body.decode()
            ),
        )
        await jobs.enqueue(session, DELIVER_JOB, message_id=message.id)
        made += 1
    return made


def sign(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": "conduit-webhooks/1",
    }


async def deliver(
    session: AsyncSession, client: WebhookClient, message_id: int, disable_after: int
) -> Outcome:
    """One attempt, logged. Nothing is sent for a message already delivered (a job that runs
    twice) or an endpoint deleted or disabled meanwhile. A run of `disable_after` failed
    attempts in a row disables the endpoint."""
    message = await webhook_dao.get_message(session, message_id)
    if message is None or message.delivered_at is not None:
        return Outcome(delivered=False, retry=False, detail="nothing to deliver")
    webhook = await webhook_dao.get(session, message.webhook_id)
    if webhook is None or not webhook.active:
        return Outcome(delivered=False, retry=False, detail="endpoint disabled or removed")
    attempt = await webhook_dao.count_attempts(session, message.id) + 1
    now = utcnow()
    headers = sign(webhook.secret, message.message_id, now, message.payload)
    result = await client.post(webhook.url, message.payload.encode(), headers)
    await webhook_dao.add_delivery(
        session,
        webhook_id=webhook.id,
        message_id=message.id,
        event=message.event,
        attempt=attempt,
        status_code=result.status_code,
        error=result.error,
        latency_ms=result.latency_ms,
    )
    if result.ok:
        await webhook_dao.mark_delivered(session, message.id, utcnow())
        await webhook_dao.record_success(session, webhook.id)
        return Outcome(delivered=True, retry=False)
    disabled = await webhook_dao.record_failure(session, webhook.id, disable_after, utcnow())
    return Outcome(delivered=False, retry=result.retryable and not disabled, detail=result.error)


async def delete_old_deliveries(session: AsyncSession, older_than_days: int) -> int:
    """The delivery log (and the messages) older than the retention; the number removed."""
    return await webhook_dao.delete_deliveries_before(
        session, utcnow() - timedelta(days=older_than_days)
    )


def article_data(view: Any) -> dict[str, Any]:
    return {
        "slug": view.slug,
        "title": view.title,
        "description": view.description,
        "tagList": list(view.tag_list),
        "author": view.author.username,
        "createdAt": view.created_at.isoformat(),
        "updatedAt": view.updated_at.isoformat(),
    }

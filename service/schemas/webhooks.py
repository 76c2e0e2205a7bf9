"""Webhook endpoints and their delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from service.models import Webhook, WebhookDelivery
from service.schemas.base import Schema, Timestamp, format_timestamp
from service.services.webhooks import EVENTS

JSON = dict[str, Any]

# What the document can say of the URL rule (services.webhooks.register and the client's guard
# also want a host, no credentials, a port from 1 and public addresses only); the
# `webhook-url` format names the rest for the fuzz run, as `username` does.
URL_PATTERN = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\x00]*$"
URL_FORMAT = "webhook-url"
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048, strip_whitespace=True),
    Field(
        json_schema_extra={"pattern": URL_PATTERN, "format": URL_FORMAT},
        description="An http or https URL with a host, no credentials, and a name that "
        "resolves to public addresses only (checked now and at every delivery).",
    ),
]
# Any other name is refused with the list of known ones.
EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), Field(json_schema_extra={"enum": EVENTS})
]


class NewWebhook(Schema):
    url: Url
    events: list[EventName] = Field(min_length=1, max_length=16)


class NewWebhookBody(Schema):
    webhook: NewWebhook


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    active: bool
    consecutive_failures: int
    disabled_at: Timestamp | None
    created_at: Timestamp


class CreatedWebhookOut(WebhookOut):
    secret: str  # shown once, here


class CreatedWebhookResponse(Schema):
    webhook: CreatedWebhookOut


class WebhookListResponse(Schema):
    webhooks: list[WebhookOut]


class DeliveryOut(Schema):
    id: int
    message_id: str  # the webhook-id header of the attempt
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: int
    created_at: Timestamp


class DeliveryListResponse(Schema):
    deliveries: list[DeliveryOut]


class DeliveryQuery(Schema):
    limit: int = Field(default=50, ge=1, le=200)


def _webhook(webhook: Webhook) -> JSON:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "active": webhook.active,
        "consecutiveFailures": webhook.consecutive_failures,
        "disabledAt": format_timestamp(webhook.disabled_at) if webhook.disabled_at else None,
        "createdAt": format_timestamp(webhook.created_at),
    }


def created_webhook_response(webhook: Webhook) -> JSON:
    return {"webhook": {**_webhook(webhook), "secret": webhook.secret}}


def webhook_list_response(webhooks: Sequence[Webhook]) -> JSON:
    return {"webhooks": [_webhook(webhook) for webhook in webhooks]}


def delivery_list_response(rows: Sequence[tuple[WebhookDelivery, str]]) -> JSON:
    return {
        "deliveries": [
            {
                "id": delivery.id,
                "messageId": message_id,
                "event": delivery.event,
                "attempt": delivery.attempt,
                "statusCode": delivery.status_code,
                "error": delivery.error,
                "latencyMs": delivery.latency_ms,
                "createdAt": format_timestamp(delivery.created_at),
            }
            for delivery, message_id in rows
        ]
    }

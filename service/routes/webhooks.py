"""Webhooks (admins): endpoints for site events, signed per Standard Webhooks, and their log."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart_schema import tag

from service import db, security
from service.clients.webhook_http import WebhookClient
from service.errors import Invalid, UserForbidden
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.routes.responses import JSON, responds
from service.routes.validation import json_body, query
from service.schemas.webhooks import (
    CreatedWebhookResponse,
    DeliveryListResponse,
    DeliveryQuery,
    NewWebhookBody,
    WebhookListResponse,
    created_webhook_response,
    delivery_list_response,
    webhook_list_response,
)
from service.services import webhooks as webhook_service
from service.services.webhooks import EVENTS, MAX_WEBHOOKS, WebhookNotFound

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

NOT_ADMIN = ErrorDoc.of(UserForbidden("webhook", "only admins manage webhooks"), "not an admin")
NO_WEBHOOK = ErrorDoc.of(WebhookNotFound, "no webhook has this id")


def _client() -> WebhookClient:
    client: WebhookClient = current_app.extensions["webhook_client"]
    return client


@bp.post("")
@tag(["webhooks"])
@errors(
    NOT_ADMIN,
    ErrorDoc.of(
        Invalid("events", f"unknown: article.deleted; known: {', '.join(EVENTS)}"),
        "an event that is not one of those known",
    ),
    ErrorDoc.of(
        Invalid("url", "127.0.0.1 is a loopback address"),
        "not http or https, no host, credentials in it, a port out of range, a name that does "
        "not resolve, or an address that is not public (any it resolves to)",
    ),
    ErrorDoc.of(
        Invalid("webhook", f"at most {MAX_WEBHOOKS} webhooks"), "as many exist as are allowed"
    ),
)
@security.require_user
@json_body(NewWebhookBody)
@responds(CreatedWebhookResponse, 201)
async def create_webhook(data: NewWebhookBody) -> JSON:
    """Register a webhook (admins only).

    Each of the `events` that happens from now on is sent to `url` as a signed JSON POST
    (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`), retried on
    failure. `url` must be http or https and resolve to public addresses only, checked now and
    at every delivery. The answer carries the signing `secret`, shown this once.
    """
    webhook = await webhook_service.register(
        db.session(), _client(), security.current_user(), data.webhook.url, data.webhook.events
    )
    return created_webhook_response(webhook)


@bp.get("")
@tag(["webhooks"])
@errors(NOT_ADMIN)
@security.require_user
@responds(WebhookListResponse)
async def list_webhooks() -> JSON:
    """List the webhooks (admins only).

    Every registered webhook, without its secret; `active` turns false (and `disabledAt` is
    set) after a run of failed deliveries.
    """
    return webhook_list_response(
        await webhook_service.list_all(db.session(), security.current_user())
    )


@bp.delete("/<id:webhook_id>")
@tag(["webhooks"])
@errors(NOT_ADMIN, NO_WEBHOOK)
@answers(Answer(204, "Deleted; no content."))
@security.require_user
async def delete_webhook(webhook_id: int) -> tuple[str, int]:
    """Delete a webhook (admins only).

    Nothing more is sent to it, retries included; its delivery log goes with it. Recorded in
    the audit log when the webhook was another admin's.
    """
    await webhook_service.delete(
        db.session(), security.current_user(), webhook_id, origin=security.origin()
    )
    return "", 204


@bp.get("/<id:webhook_id>/deliveries")
@tag(["webhooks"])
@errors(NOT_ADMIN, NO_WEBHOOK)
@security.require_user
@query(DeliveryQuery)
@responds(DeliveryListResponse)
async def list_deliveries(webhook_id: int, query_args: DeliveryQuery) -> JSON:
    """A webhook's delivery log (admins only).

    Its latest delivery attempts, newest first (`limit`: 1 to 200, default 50): the event, the
    attempt's number, the receiver's status code or the error, and how long it took.
    """
    rows = await webhook_service.deliveries(
        db.session(), security.current_user(), webhook_id, query_args.limit
    )
    return delivery_list_response(rows)

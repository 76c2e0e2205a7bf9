"""Webhooks (admins): endpoints for site events, signed per Standard Webhooks, and their log."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart_schema import tag

from service import db, security
from service.clients.webhook_http import WebhookClient
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

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")


def _client() -> WebhookClient:
    client: WebhookClient = current_app.extensions["webhook_client"]
    return client


@bp.post("")
@tag(["webhooks"])
@security.require_user
@json_body(NewWebhookBody)
@responds(CreatedWebhookResponse, 201)
async def create_webhook(data: NewWebhookBody) -> JSON:
    webhook = await webhook_service.register(
        db.session(), _client(), security.current_user(), data.webhook.url, data.webhook.events
    )
    return created_webhook_response(webhook)


@bp.get("")
@tag(["webhooks"])
@security.require_user
@responds(WebhookListResponse)
async def list_webhooks() -> JSON:
    return webhook_list_response(
        await webhook_service.list_all(db.session(), security.current_user())
    )


@bp.delete("/<id:webhook_id>")
@tag(["webhooks"])
@security.require_user
async def delete_webhook(webhook_id: int) -> tuple[str, int]:
    await webhook_service.delete(
        db.session(), security.current_user(), webhook_id, origin=security.origin()
    )
    return "", 204


@bp.get("/<id:webhook_id>/deliveries")
@tag(["webhooks"])
@security.require_user
@query(DeliveryQuery)
@responds(DeliveryListResponse)
async def list_deliveries(webhook_id: int, query_args: DeliveryQuery) -> JSON:
    rows = await webhook_service.deliveries(
        db.session(), security.current_user(), webhook_id, query_args.limit
    )
    return delivery_list_response(rows)

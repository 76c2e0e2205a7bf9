"""Conduit tags."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db
from service.routes.responses import JSON, responds
from service.schemas.conduit import TagListResponse, tag_list_response
from service.services import tags as tag_service

bp = Blueprint("tags", __name__, url_prefix="/api/tags")


@bp.get("")
@tag(["tags"])
@responds(TagListResponse)
async def list_tags() -> JSON:
    return tag_list_response(await tag_service.in_use(db.session()))

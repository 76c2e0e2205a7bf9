"""Conduit tags."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag, validate_response

from service import db
from service.schemas.conduit import TagListResponse
from service.services import tags as tag_service

bp = Blueprint("tags", __name__, url_prefix="/api/tags")


@bp.get("")
@tag(["tags"])
@validate_response(TagListResponse)
async def list_tags() -> TagListResponse:
    return TagListResponse(tags=await tag_service.in_use(db.session()))

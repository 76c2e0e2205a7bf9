"""Conduit tags."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart_schema import tag

from service import db
from service.routes import conditional
from service.routes.responses import JSON, responds
from service.schemas.conduit import TagListResponse, tag_list_response
from service.services.tags import TagCache

bp = Blueprint("tags", __name__, url_prefix="/api/tags")


@bp.get("")
@tag(["tags"])
@conditional.cacheable(conditional.SHARED_BRIEFLY)
@responds(TagListResponse)
async def list_tags() -> JSON:
    """The tags in use.

    Most used first, at most 1,000. Served from each process's memory for
    TAGS_CACHE_SECONDS, so a new tag may take that long to show.
    """
    cache: TagCache = current_app.extensions["tag_cache"]
    return tag_list_response(await cache.in_use(db.session()))

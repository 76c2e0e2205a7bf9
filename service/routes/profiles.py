"""Conduit profiles and follows."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
from service.routes import conditional
from service.routes.responses import JSON, responds
from service.schemas.conduit import ProfileResponse, profile_response
from service.services import profiles as profile_service

bp = Blueprint("profiles", __name__, url_prefix="/api/profiles")


@bp.get("/<username>")
@tag(["profiles"])
@security.optional_user
@conditional.cacheable(conditional.PERSONAL)
@responds(ProfileResponse)
async def get_profile(username: str) -> JSON:
    view = await profile_service.get(db.session(), username, security.current_user_or_none())
    return profile_response(view)


@bp.post("/<username>/follow")
@tag(["profiles"])
@security.require_user
@responds(ProfileResponse)
async def follow(username: str) -> JSON:
    # Any body is ignored, as the contract says.
    view = await profile_service.follow(db.session(), security.current_user(), username)
    return profile_response(view)


@bp.delete("/<username>/follow")
@tag(["profiles"])
@security.require_user
@responds(ProfileResponse)
async def unfollow(username: str) -> JSON:
    view = await profile_service.unfollow(db.session(), security.current_user(), username)
    return profile_response(view)

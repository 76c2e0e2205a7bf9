"""Conduit profiles and follows."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag, validate_response

from service import db, security
from service.schemas.conduit import ProfileResponse, profile_response
from service.services import profiles as profile_service

bp = Blueprint("profiles", __name__, url_prefix="/api/profiles")


@bp.get("/<username>")
@tag(["profiles"])
@security.optional_user
@validate_response(ProfileResponse)
async def get_profile(username: str) -> ProfileResponse:
    view = await profile_service.get(db.session(), username, security.current_user_or_none())
    return profile_response(view)


@bp.post("/<username>/follow")
@tag(["profiles"])
@security.require_user
@validate_response(ProfileResponse)
async def follow(username: str) -> ProfileResponse:
    # Any body is ignored, as the contract says.
    view = await profile_service.follow(db.session(), security.current_user(), username)
    return profile_response(view)


@bp.delete("/<username>/follow")
@tag(["profiles"])
@security.require_user
@validate_response(ProfileResponse)
async def unfollow(username: str) -> ProfileResponse:
    view = await profile_service.unfollow(db.session(), security.current_user(), username)
    return profile_response(view)

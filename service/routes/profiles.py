"""Conduit profiles and follows."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
from service.errors import CannotFollowSelf, ProfileNotFound
from service.routes import conditional
from service.routes.apidoc import ErrorDoc, errors
from service.routes.responses import JSON, responds
from service.schemas.conduit import ProfileResponse, profile_response
from service.services import profiles as profile_service

bp = Blueprint("profiles", __name__, url_prefix="/api/profiles")

NO_PROFILE = ErrorDoc.of(ProfileNotFound, "no user has this username, in any letter case")


@bp.get("/<username>")
@tag(["profiles"])
@errors(NO_PROFILE)
@security.optional_user
@conditional.cacheable(conditional.PERSONAL)
@responds(ProfileResponse)
async def get_profile(username: str) -> JSON:
    """A user's profile.

    Username, bio and image, and whether the caller follows them (false when anonymous). The
    username is matched in any letter case.
    """
    view = await profile_service.get(db.session(), username, security.current_user_or_none())
    return profile_response(view)


@bp.post("/<username>/follow")
@tag(["profiles"])
@errors(NO_PROFILE, ErrorDoc.of(CannotFollowSelf, "the username is the caller's own"))
@security.require_user
@responds(ProfileResponse)
async def follow(username: str) -> JSON:
    """Follow a user.

    Idempotent: following twice is one follow. Any request body is ignored. Answers the
    profile with `following: true`.
    """
    # Any body is ignored, as the contract says.
    view = await profile_service.follow(db.session(), security.current_user(), username)
    return profile_response(view)


@bp.delete("/<username>/follow")
@tag(["profiles"])
@errors(
    NO_PROFILE,
    ErrorDoc.of(
        CannotFollowSelf("profile", "can't unfollow yourself"), "the username is the caller's own"
    ),
)
@security.require_user
@responds(ProfileResponse)
async def unfollow(username: str) -> JSON:
    """Stop following a user.

    Idempotent: unfollowing someone not followed changes nothing. Answers the profile with
    `following: false`.
    """
    view = await profile_service.unfollow(db.session(), security.current_user(), username)
    return profile_response(view)

"""Profiles and follows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.profiles import profile_dao
from service.errors import CannotFollowSelf, ProfileNotFound
from service.models import ProfileView, User
from service.services import webhooks as webhook_service
from service.services.users import username_key


async def _find(
    session: AsyncSession, username: str, viewer: User | None
) -> tuple[int, ProfileView]:
    found = await profile_dao.find(
        session, username_key(username), viewer_id=viewer.id if viewer else None
    )
    if found is None:
        raise ProfileNotFound()
    return found


async def get(session: AsyncSession, username: str, viewer: User | None) -> ProfileView:
    _, profile = await _find(session, username, viewer)
    return profile


async def follow(session: AsyncSession, follower: User, username: str) -> ProfileView:
    user_id, profile = await _find(session, username, follower)
    if user_id == follower.id:
        raise CannotFollowSelf()
    if await profile_dao.follow(session, follower.id, user_id):  # a new follow, not a repeat
        data = {"follower": follower.username, "followed": profile.username}
        await webhook_service.emit(session, "profile.followed", data)
    return ProfileView(profile.username, profile.bio, profile.image, following=True)


async def unfollow(session: AsyncSession, follower: User, username: str) -> ProfileView:
    user_id, profile = await _find(session, username, follower)
    if user_id == follower.id:
        raise CannotFollowSelf("profile", "can't unfollow yourself")
    await profile_dao.unfollow(session, follower.id, user_id)
    return ProfileView(profile.username, profile.bio, profile.image, following=False)

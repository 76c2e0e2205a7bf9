from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, exists, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import MAX_ID, Follow, ProfileView, User


def following_column(viewer_id: int | None, author_id: Any) -> ColumnElement[bool]:
    """Whether the caller follows the user in `author_id`; false for anonymous callers."""
    if viewer_id is None:
        return false().label("following")
    return (
        exists()
        .where(Follow.follower_id == viewer_id, Follow.followed_id == author_id)
        .label("following")
    )


class ProfileDAO:
    async def find(
        self, session: AsyncSession, username_key: str, *, viewer_id: int | None
    ) -> tuple[int, ProfileView] | None:
        """The user's id and profile as the caller sees it: one query."""
        row = (
            await session.execute(
                select(
                    User.id,
                    User.username,
                    User.bio,
                    User.image,
                    following_column(viewer_id, User.id),
                ).where(User.username_key == username_key)
            )
        ).first()
        if row is None:
            return None
        return row.id, ProfileView(row.username, row.bio, row.image, bool(row.following))

    async def follow(self, session: AsyncSession, follower_id: int, followed_id: int) -> None:
        """Idempotent under concurrent repeats: the primary key keeps one row."""
        if not 0 < followed_id <= MAX_ID:
            return
        await session.execute(
            insert(session, Follow)
            .values(follower_id=follower_id, followed_id=followed_id)
            .on_conflict_do_nothing()
        )

    async def unfollow(self, session: AsyncSession, follower_id: int, followed_id: int) -> None:
        await session.execute(
            delete(Follow).where(
                Follow.follower_id == follower_id, Follow.followed_id == followed_id
            )
        )


profile_dao = ProfileDAO()

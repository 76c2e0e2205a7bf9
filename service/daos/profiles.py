from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    bindparam,
    delete,
    exists,
    false,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from service.daos.dialect import insert
from service.daos.queries import can_hold, run_one
from service.models import MAX_ID, Follow, ProfileView, User


def following_column(signed_in: bool, author_id: Any) -> ColumnElement[bool]:
    """Whether the caller (bound as `viewer_id`) follows the user in `author_id`; false for
    anonymous callers."""
    if not signed_in:
        return false().label("following")
    viewer: BindParameter[int] = bindparam("viewer_id", type_=Integer)
    return (
        exists()
        .where(Follow.follower_id == viewer, Follow.followed_id == author_id)
        .label("following")
    )


@cache
def _find_statement(signed_in: bool) -> Executable:
    return select(
        User.id, User.username, User.bio, User.image, following_column(signed_in, User.id)
    ).where(User.username_key == bindparam("username_key"))


class ProfileDAO:
    async def find(
        self, session: AsyncSession, username_key: str, *, viewer_id: int | None
    ) -> tuple[int, ProfileView] | None:
        """The user's id and profile as the caller sees it: one query."""
        if not can_hold(username_key):
            return None
        params: dict[str, Any] = {"username_key": username_key}
        if viewer_id is not None:
            params["viewer_id"] = viewer_id
        row = await run_one(session, _find_statement(viewer_id is not None), params)
        if row is None:
            return None
        return row[0], ProfileView(row[1], row[2], row[3], bool(row[4]))

    async def follow(self, session: AsyncSession, follower_id: int, followed_id: int) -> bool:
        """Idempotent under concurrent repeats: the primary key keeps one row. True when this
        call added it."""
        if not 0 < followed_id <= MAX_ID:
            return False
        result = await session.execute(
            insert(session, Follow)
            .values(follower_id=follower_id, followed_id=followed_id)
            .on_conflict_do_nothing()
        )
        return bool(getattr(result, "rowcount", 0))

    async def unfollow(self, session: AsyncSession, follower_id: int, followed_id: int) -> None:
        await session.execute(
            delete(Follow).where(
                Follow.follower_id == follower_id, Follow.followed_id == followed_id
            )
        )


profile_dao = ProfileDAO()

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from service.daos.articles import raise_if_article_gone
from service.daos.profiles import following_column
from service.daos.queries import fetch_all
from service.models import MAX_ID, Comment, CommentView, ProfileView, User


@cache
def _for_article_statement(signed_in: bool) -> Executable:
    return (
        select(
            Comment.id,
            Comment.created_at,
            Comment.updated_at,
            Comment.body,
            User.username,
            User.bio,
            User.image,
            following_column(signed_in, Comment.author_id),
        )
        .join(User, User.id == Comment.author_id)
        .where(Comment.article_id == bindparam("article_id"))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )


class CommentDAO:
    async def for_article(
        self, session: AsyncSession, article_id: int, *, viewer_id: int | None
    ) -> list[CommentView]:
        """An article's comments with their authors, newest first: one query."""
        params: dict[str, Any] = {"article_id": article_id}
        if viewer_id is not None:
            params["viewer_id"] = viewer_id
        rows = await fetch_all(session, _for_article_statement(viewer_id is not None), params)
        return [
            CommentView(
                id=row.id,
                created_at=row.created_at,
                updated_at=row.updated_at,
                body=row.body,
                author=ProfileView(row.username, row.bio, row.image, bool(row.following)),
            )
            for row in rows
        ]

    async def add(self, session: AsyncSession, comment: Comment) -> Comment:
        """ArticleNotFound when the article was deleted since it was looked up."""
        session.add(comment)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise_if_article_gone(exc)
            raise
        return comment

    async def get(self, session: AsyncSession, comment_id: int) -> Comment | None:
        if not 0 < comment_id <= MAX_ID:
            return None
        return await session.get(Comment, comment_id)

    async def delete(self, session: AsyncSession, comment_id: int) -> None:
        await session.execute(delete(Comment).where(Comment.id == comment_id))


comment_dao = CommentDAO()

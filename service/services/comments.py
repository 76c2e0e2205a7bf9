"""Comments on articles; only their author deletes them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.comments import comment_dao
from service.errors import CommentForbidden, CommentNotFound
from service.models import Comment, CommentView, ProfileView, User
from service.services import webhooks as webhook_service
from service.services.articles import article_id_for, locate


async def list_for(
    session: AsyncSession, slug: str, viewer: User | None
) -> tuple[str, list[CommentView]]:
    """The article's current slug (an old one names it too) and its comments, newest first."""
    article = await locate(session, slug)
    comments = await comment_dao.for_article(
        session, article.id, viewer_id=viewer.id if viewer else None
    )
    return article.slug, comments


async def add(session: AsyncSession, author: User, slug: str, body: str) -> CommentView:
    article_id = await article_id_for(session, slug)
    comment = await comment_dao.add(
        session, Comment(article_id=article_id, author_id=author.id, body=body)
    )
    data = {
        "id": comment.id,
        "article": slug,
        "body": comment.body,
        "author": author.username,
        "createdAt": comment.created_at.isoformat(),
    }
    await webhook_service.emit(session, "comment.created", data)
    return CommentView(
        id=comment.id,
        created_at=comment.created_at,
        updated_at=comment.updated_at,
        body=comment.body,
        author=ProfileView(author.username, author.bio, author.image, following=False),
    )


async def delete(session: AsyncSession, actor: User, slug: str, comment_id: int) -> None:
    article_id = await article_id_for(session, slug)
    comment = await comment_dao.get(session, comment_id)
    if comment is None or comment.article_id != article_id:
        raise CommentNotFound()
    if comment.author_id != actor.id:
        raise CommentForbidden()
    await comment_dao.delete(session, comment.id)

"""Conduit comments on an article."""

from __future__ import annotations

from quart import Blueprint, url_for
from quart_schema import tag

from service import db, security
from service.errors import ArticleNotFound, CommentForbidden, CommentNotFound
from service.routes import conditional
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.routes.idempotency import idempotent
from service.routes.responses import JSON, Moved, responds
from service.routes.validation import json_body
from service.schemas.conduit import (
    CommentListResponse,
    CommentResponse,
    NewCommentBody,
    comment_list_response,
    comment_response,
)
from service.services import comments as comment_service

bp = Blueprint("comments", __name__, url_prefix="/api/articles/<slug>/comments")

NO_ARTICLE = ErrorDoc.of(ArticleNotFound, "no article has this slug")


@bp.get("")
@tag(["comments"])
@errors(NO_ARTICLE)
@security.optional_user
@conditional.cacheable(conditional.PERSONAL)
@responds(CommentListResponse, moved=True)
async def list_comments(slug: str) -> JSON | Moved:
    """An article's comments.

    All of them, newest first, each with its author's profile. An old slug of a renamed
    article answers 301 to the current one, with the same body.
    """
    current, views = await comment_service.list_for(
        db.session(), slug, security.current_user_or_none()
    )
    if current != slug:  # an old slug of the article
        return Moved(comment_list_response(views), url_for("comments.list_comments", slug=current))
    return comment_list_response(views)


@bp.post("")
@tag(["comments"])
@errors(NO_ARTICLE)
@security.require_user
@json_body(NewCommentBody)
@idempotent
@responds(CommentResponse, 201)
async def add_comment(slug: str, data: NewCommentBody) -> JSON:
    """Comment on an article.

    A body of 1 to 10,000 characters. Answers the new comment.
    """
    view = await comment_service.add(db.session(), security.current_user(), slug, data.comment.body)
    return comment_response(view)


@bp.delete("/<id:comment_id>")
@tag(["comments"])
@errors(
    NO_ARTICLE,
    ErrorDoc.of(CommentNotFound, "no comment has this id on this article"),
    ErrorDoc.of(CommentForbidden, "the caller is not the comment's author"),
)
@answers(Answer(204, "Deleted; no content."))
@security.require_user
async def delete_comment(slug: str, comment_id: int) -> tuple[str, int]:
    """Delete a comment (its author only).

    The comment must belong to the article of the slug.
    """
    await comment_service.delete(db.session(), security.current_user(), slug, comment_id)
    return "", 204

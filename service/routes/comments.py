"""Conduit comments on an article."""

from __future__ import annotations

from quart import Blueprint, url_for
from quart_schema import tag

from service import db, security
from service.routes import conditional
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


@bp.get("")
@tag(["comments"])
@security.optional_user
@conditional.cacheable(conditional.PERSONAL)
@responds(CommentListResponse, moved=True)
async def list_comments(slug: str) -> JSON | Moved:
    current, views = await comment_service.list_for(
        db.session(), slug, security.current_user_or_none()
    )
    if current != slug:  # an old slug of the article
        return Moved(comment_list_response(views), url_for("comments.list_comments", slug=current))
    return comment_list_response(views)


@bp.post("")
@tag(["comments"])
@security.require_user
@json_body(NewCommentBody)
@responds(CommentResponse, 201)
async def add_comment(slug: str, data: NewCommentBody) -> JSON:
    view = await comment_service.add(db.session(), security.current_user(), slug, data.comment.body)
    return comment_response(view)


@bp.delete("/<id:comment_id>")
@tag(["comments"])
@security.require_user
async def delete_comment(slug: str, comment_id: int) -> tuple[str, int]:
    await comment_service.delete(db.session(), security.current_user(), slug, comment_id)
    return "", 204

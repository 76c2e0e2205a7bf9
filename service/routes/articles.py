"""Conduit articles: lists, the feed, one article, writes and favourites."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
from service.routes.idempotency import idempotent
from service.routes.responses import JSON, responds
from service.routes.validation import json_body, query
from service.schemas.base import PageQuery
from service.schemas.conduit import (
    ArticleChangesBody,
    ArticleListQuery,
    ArticleListResponse,
    ArticleResponse,
    NewArticleBody,
    article_list_response,
    article_response,
)
from service.services import articles as article_service

bp = Blueprint("articles", __name__, url_prefix="/api/articles")


@bp.get("")
@tag(["articles"])
@security.optional_user
@query(ArticleListQuery)
@responds(ArticleListResponse)
async def list_articles(query_args: ArticleListQuery) -> JSON:
    views, total = await article_service.list_articles(
        db.session(),
        security.current_user_or_none(),
        tag=query_args.tag,
        author=query_args.author,
        favorited=query_args.favorited,
        limit=query_args.limit,
        offset=query_args.offset,
    )
    return article_list_response(views, total)


@bp.get("/feed")
@tag(["articles"])
@security.require_user
@query(PageQuery)
@responds(ArticleListResponse)
async def feed(query_args: PageQuery) -> JSON:
    views, total = await article_service.feed(
        db.session(), security.current_user(), limit=query_args.limit, offset=query_args.offset
    )
    return article_list_response(views, total)


@bp.get("/<slug>")
@tag(["articles"])
@security.optional_user
@responds(ArticleResponse)
async def get_article(slug: str) -> JSON:
    view = await article_service.get(db.session(), slug, security.current_user_or_none())
    return article_response(view)


@bp.post("")
@tag(["articles"])
@security.require_user
@json_body(NewArticleBody)
@idempotent
@responds(ArticleResponse, 201)
async def create_article(data: NewArticleBody) -> JSON:
    new = data.article
    view = await article_service.create(
        db.session(),
        security.current_user(),
        title=new.title,
        description=new.description,
        body=new.body,
        tags=new.tag_list,
    )
    return article_response(view)


@bp.put("/<slug>")
@tag(["articles"])
@security.require_user
@json_body(ArticleChangesBody)
@responds(ArticleResponse)
async def update_article(slug: str, data: ArticleChangesBody) -> JSON:
    view = await article_service.update(
        db.session(), security.current_user(), slug, data.article.changes()
    )
    return article_response(view)


@bp.delete("/<slug>")
@tag(["articles"])
@security.require_user
async def delete_article(slug: str) -> tuple[str, int]:
    await article_service.delete(db.session(), security.current_user(), slug)
    return "", 204


@bp.post("/<slug>/favorite")
@tag(["favorites"])
@security.require_user
@responds(ArticleResponse)
async def favorite(slug: str) -> JSON:
    view = await article_service.favorite(db.session(), security.current_user(), slug)
    return article_response(view)


@bp.delete("/<slug>/favorite")
@tag(["favorites"])
@security.require_user
@responds(ArticleResponse)
async def unfavorite(slug: str) -> JSON:
    view = await article_service.unfavorite(db.session(), security.current_user(), slug)
    return article_response(view)

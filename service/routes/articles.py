"""Conduit articles: lists, the feed, one article, writes and favourites."""

from __future__ import annotations

from quart import Blueprint, url_for
from quart_schema import tag

from service import db, security
from service.errors import ArticleChanged, ArticleForbidden, ArticleNotFound, Invalid
from service.routes import conditional
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.routes.idempotency import idempotent
from service.routes.responses import JSON, Moved, responds
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

ARTICLE = "/<slug:slug>"  # never `feed`: that path is the feed's alone

NO_ARTICLE = ErrorDoc.of(ArticleNotFound, "no article has this slug")
NOT_AUTHOR = ErrorDoc.of(ArticleForbidden, "the caller is not the article's author")
BLANK_TAG = ErrorDoc.of(
    Invalid("tagList", "can't contain blank tags"), "a tag is empty or only whitespace"
)
CHANGED = ErrorDoc.of(
    ArticleChanged, "If-Match does not name the article's current version (nor `*`)"
)
NO_SLUG = ErrorDoc.of(
    Invalid("title", "could not be turned into a unique slug, try another"),
    "every slug tried for this title was taken meanwhile",
)


@bp.get("")
@tag(["articles"])
@security.optional_user
@query(ArticleListQuery)
@conditional.cacheable(conditional.PERSONAL)
@responds(ArticleListResponse)
async def list_articles(query_args: ArticleListQuery) -> JSON:
    """List articles.

    Newest first, without their bodies, with `articlesCount`: the number of all matches, not
    the page's length. Filters combine with AND: `tag`, `author` (a username) and `favorited`
    (the username of someone who favourited them); an unknown name matches nothing.
    `limit` is 1 to 100 (default 20) and `offset` from 0: anything else is a 422.
    """
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
@conditional.cacheable(conditional.PERSONAL)
@responds(ArticleListResponse)
async def feed(query_args: PageQuery) -> JSON:
    """The caller's feed.

    Articles by the authors the caller follows, newest first, paged and counted as the list.
    """
    views, total = await article_service.feed(
        db.session(), security.current_user(), limit=query_args.limit, offset=query_args.offset
    )
    return article_list_response(views, total)


@bp.get(ARTICLE)
@tag(["articles"])
@errors(NO_ARTICLE)
@security.optional_user
@conditional.cacheable(conditional.PERSONAL)
@responds(ArticleResponse, moved=True)
async def get_article(slug: str) -> JSON | Moved:
    """One article.

    The article with its body, its tags (alphabetical), its author's profile, and whether the
    caller favourited it and follows its author. An old slug of a renamed article answers 301
    to the current one, with the same body.
    """
    view = await article_service.get(db.session(), slug, security.current_user_or_none())
    if view.slug != slug:  # an old slug of the article
        return Moved(article_response(view), url_for("articles.get_article", slug=view.slug))
    return article_response(view)


@bp.post("")
@tag(["articles"])
@errors(BLANK_TAG, NO_SLUG)
@security.require_user
@json_body(NewArticleBody)
@idempotent
@responds(ArticleResponse, 201)
async def create_article(data: NewArticleBody) -> JSON:
    """Publish an article.

    The slug is readable ASCII made from the title (`Héllo, Wörld!` gives `hello-world`); a
    taken slug gets a random suffix. Title and description are trimmed; tags are trimmed and
    kept once, at most 20 of 1 to 64 characters.
    """
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


@bp.put(ARTICLE)
@tag(["articles"])
@errors(NO_ARTICLE, NOT_AUTHOR, BLANK_TAG, NO_SLUG, CHANGED)
@security.require_user
@json_body(ArticleChangesBody)
@conditional.versioned
@responds(ArticleResponse)
async def update_article(slug: str, data: ArticleChangesBody) -> JSON:
    """Update an article (its author only).

    Any of `title`, `description`, `body` and `tagList` (which replaces the tags); a field left
    out stays, and none may be null. A new title gives a new slug; the old one keeps naming the
    article (a GET there answers 301). With If-Match, only if the article is still that version
    (else 412, nothing written); the answer's ETag is the next one to send.
    """
    view = await article_service.update(
        db.session(),
        security.current_user(),
        slug,
        data.article.changes(),
        precondition=conditional.if_match(article_response, ArticleChanged),
    )
    return article_response(view)


@bp.delete(ARTICLE)
@tag(["articles"])
@errors(NO_ARTICLE, NOT_AUTHOR)
@answers(Answer(204, "Deleted; no content."))
@security.require_user
async def delete_article(slug: str) -> tuple[str, int]:
    """Delete an article (its author only).

    Its comments, favourites and tag links go with it.
    """
    await article_service.delete(db.session(), security.current_user(), slug)
    return "", 204


@bp.post("/<slug>/favorite")
@tag(["favorites"])
@errors(NO_ARTICLE)
@security.require_user
@responds(ArticleResponse)
async def favorite(slug: str) -> JSON:
    """Favourite an article.

    Idempotent: the count goes up once per user. Any request body is ignored. Answers the
    article with `favorited: true`.
    """
    view = await article_service.favorite(db.session(), security.current_user(), slug)
    return article_response(view)


@bp.delete("/<slug>/favorite")
@tag(["favorites"])
@errors(NO_ARTICLE)
@security.require_user
@responds(ArticleResponse)
async def unfavorite(slug: str) -> JSON:
    """Take back a favourite.

    Idempotent. Answers the article with `favorited: false`.
    """
    view = await article_service.unfavorite(db.session(), security.current_user(), slug)
    return article_response(view)

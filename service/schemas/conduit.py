"""Request and response bodies of the Conduit API: profiles, articles, comments, tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from service.models import ArticleView, CommentView, ProfileView
from service.schemas.base import (
    NOT_BLANK,
    PageQuery,
    Schema,
    Timestamp,
    format_timestamp,
    omittable,
)

JSON = dict[str, Any]

TITLE_MAX = 255
DESCRIPTION_MAX = 2_000
BODY_MAX = 100_000
COMMENT_MAX = 10_000
TAG_MAX, TAGS_MAX = 64, 20

# Trimmed: all whitespace is blank, which the document's pattern says.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    Field(json_schema_extra={"pattern": NOT_BLANK}),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX),
    Field(json_schema_extra={"pattern": NOT_BLANK}),
]
Body = Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX)]
# Trimmed and checked for blanks by the service, which names the field in its error.
TagName = Annotated[
    str,
    StringConstraints(max_length=TAG_MAX),
    Field(json_schema_extra={"pattern": NOT_BLANK}),
]
TagList = Annotated[list[TagName], Field(max_length=TAGS_MAX)]


class NewArticle(Schema):
    title: Title
    description: Description
    body: Body
    tag_list: TagList = Field(default_factory=list)


class ArticleChanges(Schema):
    title: Title | None = omittable()
    description: Description | None = omittable()
    body: Body | None = omittable()
    tag_list: TagList | None = omittable()

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class NewArticleBody(Schema):
    article: NewArticle


class ArticleChangesBody(Schema):
    article: ArticleChanges


class NewComment(Schema):
    body: Annotated[str, StringConstraints(min_length=1, max_length=COMMENT_MAX)]


class NewCommentBody(Schema):
    comment: NewComment


class ArticleListQuery(PageQuery):
    tag: str | None = Field(default=None, min_length=1, max_length=TAG_MAX)
    author: str | None = Field(default=None, min_length=1, max_length=64)
    favorited: str | None = Field(default=None, min_length=1, max_length=64)


class ProfileOut(Schema):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ProfileResponse(Schema):
    profile: ProfileOut


class ArticleListItem(Schema):
    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    favorited: bool
    favorites_count: int
    author: ProfileOut


class ArticleOut(ArticleListItem):
    body: str


class ArticleResponse(Schema):
    article: ArticleOut


class ArticleListResponse(Schema):
    articles: list[ArticleListItem]
    articles_count: int


class CommentOut(Schema):
    id: int
    created_at: Timestamp
    updated_at: Timestamp
    body: str
    author: ProfileOut


class CommentResponse(Schema):
    comment: CommentOut


class CommentListResponse(Schema):
    comments: list[CommentOut]


class TagListResponse(Schema):
    tags: list[str]


# Response bodies, built as dicts (routes.responses writes them; the models above document
# them and, in development and testing, check them).


def profile_json(view: ProfileView) -> JSON:
    return {
        "username": view.username,
        "bio": view.bio,
        "image": view.image,
        "following": view.following,
    }


def profile_response(view: ProfileView) -> JSON:
    return {"profile": profile_json(view)}


def _article(view: ArticleView) -> JSON:
    return {
        "slug": view.slug,
        "title": view.title,
        "description": view.description,
        "tagList": view.tag_list,
        "createdAt": format_timestamp(view.created_at),
        "updatedAt": format_timestamp(view.updated_at),
        "favorited": view.favorited,
        "favoritesCount": view.favorites_count,
        "author": profile_json(view.author),
    }


def article_response(view: ArticleView) -> JSON:
    body = _article(view)
    body["body"] = view.body or ""
    return {"article": body}


def article_list_response(views: Sequence[ArticleView], total: int) -> JSON:
    return {"articles": [_article(view) for view in views], "articlesCount": total}


def _comment(view: CommentView) -> JSON:
    return {
        "id": view.id,
        "createdAt": format_timestamp(view.created_at),
        "updatedAt": format_timestamp(view.updated_at),
        "body": view.body,
        "author": profile_json(view.author),
    }


def comment_response(view: CommentView) -> JSON:
    return {"comment": _comment(view)}


def comment_list_response(views: Sequence[CommentView]) -> JSON:
    return {"comments": [_comment(view) for view in views]}


def tag_list_response(names: Sequence[str]) -> JSON:
    return {"tags": list(names)}

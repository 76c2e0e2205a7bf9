"""What the Conduit endpoints show: read models assembled by the DAOs in a fixed number of
queries, with the caller's `following` / `favorited` already resolved.

Not frozen: a frozen dataclass sets each field through object.__setattr__, three times the
cost, and a page of articles builds forty of these per request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class ProfileView:
    username: str
    bio: str | None
    image: str | None
    following: bool


@dataclass(slots=True)
class ArticleView:
    id: int
    slug: str
    title: str
    description: str
    body: str | None  # None in lists, which leave the body out
    tag_list: list[str]
    created_at: datetime
    updated_at: datetime
    favorited: bool
    favorites_count: int
    author: ProfileView


@dataclass(slots=True)
class CommentView:
    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: ProfileView

"""What the Conduit endpoints show: read models assembled by the DAOs in a fixed number of
queries, with the caller's `following` / `favorited` already resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ProfileView:
    username: str
    bio: str | None
    image: str | None
    following: bool


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class CommentView:
    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: ProfileView

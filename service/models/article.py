from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, TimestampMixin, utcnow

SLUG_MAX = 300


class Article(TimestampMixin, Base):
    __tablename__ = "articles"
    __table_args__ = (
        # Newest first with a stable tie-break, overall and per author.
        Index("ix_articles_created_at_id", "created_at", "id"),
        Index("ix_articles_author_id_created_at_id", "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Kept by the favourites DAO in the same statement pair as the row it adds or removes,
    # so lists never count favourites per article.
    favorites_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# A tag's case-folded key may be longer than its name (NFKC spells some characters with many).
TAG_KEY_MAX = 256


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # As first written; tags are one by their case-folded key, as usernames are.
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(TAG_KEY_MAX), unique=True)
    # Articles carrying the tag: orders GET /api/tags and answers a tag filter's total.
    articles_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ArticleTag(Base):
    __tablename__ = "article_tags"
    __table_args__ = (
        # A tag's articles newest first straight from the index: no sort that grows with the tag.
        Index("ix_article_tags_tag_id_created_at_article_id", "tag_id", "created_at", "article_id"),
    )

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    # The article's created_at, copied (it never changes) for the index above.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Comment(TimestampMixin, Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_article_id_created_at_id", "article_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)

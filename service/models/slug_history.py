from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.article import SLUG_MAX
from service.models.base import Base


class ArticleSlug(Base):
    """Every slug a live article has had, its current one included. The primary key gives a
    slug to one article for as long as that article exists, so an old link never leads to
    another article; the rows go with the article (cascade), which frees its slugs."""

    __tablename__ = "article_slugs"

    slug: Mapped[str] = mapped_column(String(SLUG_MAX), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )

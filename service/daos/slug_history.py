"""Slug history: which article a slug names, current or old (see models.slug_history)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.daos.queries import can_hold, fetch_one
from service.models import Article, ArticleSlug


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """An article's id and its current slug."""

    id: int
    slug: str


_CURRENT = (
    select(Article.id, Article.slug)
    .join(ArticleSlug, ArticleSlug.article_id == Article.id)
    .where(ArticleSlug.slug == bindparam("slug"))
)


class SlugHistoryDAO:
    async def claim(self, session: AsyncSession, article_id: int, slug: str) -> bool:
        """Record that the article has `slug`: True if it is the article's now (new to the
        history, or one of its own old slugs), False if it names another article. One
        statement on the primary key, so concurrent claims of one slug cannot both win."""
        statement = insert(session, ArticleSlug).values(slug=slug, article_id=article_id)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[ArticleSlug.slug],
            set_={"article_id": excluded.article_id},
            # A no-op on its own old slug; no row at all on another article's.
            where=ArticleSlug.article_id == excluded.article_id,
        )
        result = await session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def current(self, session: AsyncSession, slug: str) -> ArticleRef | None:
        """The article that has or had `slug`, with its current slug."""
        if not can_hold(slug):
            return None
        row = await fetch_one(session, _CURRENT, {"slug": slug})
        return ArticleRef(row.id, row.slug) if row is not None else None


slug_history_dao = SlugHistoryDAO()

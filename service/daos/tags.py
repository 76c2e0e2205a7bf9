from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.daos.queries import fetch_all
from service.models import ArticleTag, Tag


class TagDAO:
    async def ids_for(
        self, session: AsyncSession, names: Mapping[str, str]
    ) -> dict[str, tuple[int, str]]:
        """The id and stored name of each tag, by key (`names` maps keys to the spellings to
        use for tags not yet made); new tags are made race-free, the first spelling kept."""
        if not names:
            return {}
        await session.execute(
            insert(session, Tag)
            .values([{"name": name, "name_key": key} for key, name in names.items()])
            .on_conflict_do_nothing(index_elements=["name_key"])
        )
        rows = await session.execute(
            select(Tag.name_key, Tag.id, Tag.name).where(Tag.name_key.in_(names))
        )
        return {key: (tag_id, name) for key, tag_id, name in rows}

    async def ids_of_article(self, session: AsyncSession, article_id: int) -> set[int]:
        rows = await session.scalars(
            select(ArticleTag.tag_id).where(ArticleTag.article_id == article_id)
        )
        return set(rows)

    # Links and counts: a tag's count moves by the links an INSERT or DELETE really added or
    # removed (RETURNING), never by what an earlier read expected, so a concurrent writer that
    # got there first cannot make a count drift.

    async def link(
        self, session: AsyncSession, article_id: int, created_at: datetime, tag_ids: Collection[int]
    ) -> None:
        if not tag_ids:
            return
        added = await session.execute(
            insert(session, ArticleTag)
            .values(
                [{"article_id": article_id, "tag_id": t, "created_at": created_at} for t in tag_ids]
            )
            .on_conflict_do_nothing()
            .returning(ArticleTag.tag_id)
        )
        await self._count(session, added.scalars().all(), +1)

    async def unlink(
        self, session: AsyncSession, article_id: int, tag_ids: Collection[int]
    ) -> None:
        if not tag_ids:
            return
        removed = await session.execute(
            delete(ArticleTag)
            .where(ArticleTag.article_id == article_id, ArticleTag.tag_id.in_(tag_ids))
            .returning(ArticleTag.tag_id)
        )
        await self._count(session, removed.scalars().all(), -1)

    async def unlink_all(self, session: AsyncSession, article_id: int) -> None:
        """Before an article goes: its links, and one article less for each of their tags."""
        removed = await session.execute(
            delete(ArticleTag)
            .where(ArticleTag.article_id == article_id)
            .returning(ArticleTag.tag_id)
        )
        await self._count(session, removed.scalars().all(), -1)

    async def _count(self, session: AsyncSession, tag_ids: Collection[int], delta: int) -> None:
        if not tag_ids:
            return
        await session.execute(
            update(Tag).where(Tag.id.in_(tag_ids)).values(articles_count=Tag.articles_count + delta)
        )

    async def in_use(self, session: AsyncSession, limit: int) -> list[str]:
        """Tags on at least one article, most used first (ties by name)."""
        rows = await fetch_all(session, _IN_USE, {"limit": limit})
        return [name for (name,) in rows]


_IN_USE = (
    select(Tag.name)
    .where(Tag.articles_count > 0)
    .order_by(Tag.articles_count.desc(), Tag.name)
    .limit(bindparam("limit"))
)


tag_dao = TagDAO()

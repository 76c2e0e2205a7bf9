from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert_rows, row_params
from service.daos.queries import dialect_name, fetch_all
from service.models import ArticleTag, Tag


class TagDAO:
    # Tag counts. Every writer takes the tag rows it changes in one order, their keys, and in
    # one statement: a bare UPDATE locks in scan order (which moves with each new row
    # version), and an INSERT of new tags before the counts held those keys out of order; two
    # writers sharing tags then deadlocked (a 500 on PostgreSQL). A count moves by the links
    # really added or removed: an article's links change only under its row lock (or, for a
    # new article, before anyone else can see it), so the caller knows them exactly.

    async def add_to_counts(
        self, session: AsyncSession, names: Mapping[str, str], deltas: Mapping[str, int]
    ) -> dict[str, tuple[int, str]]:
        """Move each tag's count by its delta (tags by key), making the missing ones (`names`
        maps keys to the spellings to use then; a made tag counts its delta); the id and
        stored name of each, by key. One upsert in key order: it returns a tag whoever made
        it, even one committed after the statement began."""
        if not deltas:
            return {}
        rows = [(names[key], key, deltas[key]) for key in sorted(deltas)]
        statement = _count_upsert(dialect_name(session), len(rows))
        found = await session.execute(statement, row_params(_TAG_COLUMNS, rows))
        return {key: (tag_id, name) for key, tag_id, name in found}

    async def of_article(
        self, session: AsyncSession, article_id: int
    ) -> dict[str, tuple[int, str]]:
        """The article's tags: id and stored name by key."""
        rows = await session.execute(
            select(Tag.name_key, Tag.id, Tag.name)
            .join(ArticleTag, ArticleTag.tag_id == Tag.id)
            .where(ArticleTag.article_id == article_id)
        )
        return {key: (tag_id, name) for key, tag_id, name in rows}

    async def link(
        self, session: AsyncSession, article_id: int, created_at: datetime, tag_ids: Collection[int]
    ) -> None:
        """Link tags (counted by the caller, with `add_to_counts`)."""
        if not tag_ids:
            return
        statement = insert_rows(
            dialect_name(session), ArticleTag.__table__, _LINK_COLUMNS, len(tag_ids)
        )
        rows = [(article_id, tag_id, created_at) for tag_id in tag_ids]
        await session.execute(statement, row_params(_LINK_COLUMNS, rows))

    async def unlink(
        self, session: AsyncSession, article_id: int, tag_ids: Collection[int]
    ) -> None:
        """Unlink tags (counted by the caller, with `add_to_counts`)."""
        if not tag_ids:
            return
        await session.execute(
            delete(ArticleTag).where(
                ArticleTag.article_id == article_id, ArticleTag.tag_id.in_(tag_ids)
            )
        )

    async def unlink_all(self, session: AsyncSession, article_id: int) -> None:
        """Before an article goes: its links, and one article less for each of their tags
        (locked in key order first, in one statement; then the UPDATE finds them all its own)."""
        removed = (
            (
                await session.execute(
                    delete(ArticleTag)
                    .where(ArticleTag.article_id == article_id)
                    .returning(ArticleTag.tag_id)
                )
            )
            .scalars()
            .all()
        )
        if not removed:
            return
        await session.execute(
            select(Tag.id)
            .where(Tag.id.in_(removed))
            .order_by(Tag.name_key)
            # NO KEY, as the UPDATE's own lock: links inserted meanwhile (their foreign keys
            # share-lock the tag) never block it.
            .with_for_update(key_share=True)
        )
        await session.execute(
            update(Tag).where(Tag.id.in_(removed)).values(articles_count=Tag.articles_count - 1)
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


_TAG_COLUMNS = ("name", "name_key", "articles_count")
_LINK_COLUMNS = ("article_id", "tag_id", "created_at")


@lru_cache(maxsize=64)
def _count_upsert(dialect: str, rows: int) -> Any:
    table = Tag.__table__
    statement = insert_rows(dialect, table, _TAG_COLUMNS, rows)
    return statement.on_conflict_do_update(
        index_elements=[table.c.name_key],
        set_={"articles_count": table.c.articles_count + statement.excluded.articles_count},
    ).returning(table.c.name_key, table.c.id, table.c.name)


tag_dao = TagDAO()

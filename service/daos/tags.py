from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.daos.queries import dialect_name, fetch_all, in_ids
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

    async def add_counted(
        self, session: AsyncSession, names: Mapping[str, str]
    ) -> dict[str, tuple[int, str]]:
        """For a new article: one article more on each tag, made if missing (`names` maps keys
        to the spellings to use then); the id and stored name of each, by key. One statement:
        an upsert returns a tag whoever made it, even one committed after it began (a plain
        INSERT ... DO NOTHING and a SELECT would need two). Rows go in key order, the order
        `count` locks them in."""
        if not names:
            return {}
        table = Tag.__table__
        statement = (
            insert(session, table)
            .values(
                [
                    {"name": names[key], "name_key": key, "articles_count": 1}
                    for key in sorted(names)
                ]
            )
            .on_conflict_do_update(
                index_elements=[table.c.name_key],
                set_={"articles_count": table.c.articles_count + 1},
            )
            .returning(table.c.name_key, table.c.id, table.c.name)
        )
        rows = await session.execute(statement)
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
    ) -> list[int]:
        """Link the tags not linked yet; the ids linked now (their counts are not moved)."""
        if not tag_ids:
            return []
        added = await session.execute(
            insert(session, ArticleTag)
            .values(
                [{"article_id": article_id, "tag_id": t, "created_at": created_at} for t in tag_ids]
            )
            .on_conflict_do_nothing()
            .returning(ArticleTag.tag_id)
        )
        return list(added.scalars().all())

    async def unlink(
        self, session: AsyncSession, article_id: int, tag_ids: Collection[int]
    ) -> list[int]:
        """Unlink those of the tags still linked; the ids unlinked now (counts not moved)."""
        if not tag_ids:
            return []
        removed = await session.execute(
            delete(ArticleTag)
            .where(ArticleTag.article_id == article_id, ArticleTag.tag_id.in_(tag_ids))
            .returning(ArticleTag.tag_id)
        )
        return list(removed.scalars().all())

    async def unlink_all(self, session: AsyncSession, article_id: int) -> None:
        """Before an article goes: its links, and one article less for each of their tags."""
        removed = await session.execute(
            delete(ArticleTag)
            .where(ArticleTag.article_id == article_id)
            .returning(ArticleTag.tag_id)
        )
        await self.count(session, added=(), removed=removed.scalars().all())

    async def count(
        self, session: AsyncSession, *, added: Collection[int], removed: Collection[int]
    ) -> None:
        """One article more on each `added` tag, one less on each `removed` one.

        Every writer of counts locks the tag rows it changes in one order, their keys, all in
        one statement before it changes any: a bare UPDATE locks in scan order, which moves
        with each new row version, and two writers of the same tags deadlocked (a 500). The
        UPDATEs that follow find every row already theirs. NO KEY, as an UPDATE would: links
        inserted meanwhile (their foreign keys share-lock the tag) never block it.
        """
        changed = {*added, *removed}
        if not changed:
            return
        await session.execute(
            select(Tag.id)
            .where(Tag.id.in_(changed))
            .order_by(Tag.name_key)
            .with_for_update(key_share=True)
        )
        for tag_ids, delta in ((added, +1), (removed, -1)):
            if tag_ids:
                await session.execute(
                    update(Tag)
                    .where(Tag.id.in_(tag_ids))
                    .values(articles_count=Tag.articles_count + delta)
                )

    async def names_by_article(
        self, session: AsyncSession, article_ids: Sequence[int]
    ) -> dict[int, list[str]]:
        """Sorted tag names of each article, in one query whatever the number of articles."""
        found: dict[int, list[str]] = defaultdict(list)
        if not article_ids:
            return found
        statement = _names_by_article(dialect_name(session))
        rows = await fetch_all(session, statement, {"article_ids": list(article_ids)})
        for article_id, name in rows:
            found[article_id].append(name)
        for names in found.values():
            names.sort()
        return found

    async def in_use(self, session: AsyncSession, limit: int) -> list[str]:
        """Tags on at least one article, most used first (ties by name)."""
        rows = await fetch_all(session, _IN_USE, {"limit": limit})
        return [name for (name,) in rows]


@cache
def _names_by_article(dialect: str) -> Select[int, str]:
    return (
        select(ArticleTag.article_id, Tag.name)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(in_ids(ArticleTag.article_id, "article_ids", dialect))
    )


_IN_USE = (
    select(Tag.name)
    .where(Tag.articles_count > 0)
    .order_by(Tag.articles_count.desc(), Tag.name)
    .limit(bindparam("limit"))
)


tag_dao = TagDAO()

from __future__ import annotations

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import Counter

ARTICLES = "articles"


class CounterDAO:
    """Totals changed in the same transaction as the rows they count: an atomic upsert, so
    concurrent writers never lose an increment and a missing row counts as zero."""

    async def add(self, session: AsyncSession, name: str, delta: int) -> None:
        table = Counter.__table__
        stmt = insert(session, table).values(name=name, value=delta)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.name], set_={"value": table.c.value + delta}
        )
        await session.execute(stmt)

    def value_of(self, name: str) -> ScalarSelect[int]:
        return (
            select(func.coalesce(func.max(Counter.value), 0))
            .where(Counter.name == name)
            .scalar_subquery()
        )


counter_dao = CounterDAO()

from __future__ import annotations

import secrets

from sqlalchemy import BigInteger, ScalarSelect, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.dialect import insert
from service.models import Counter

ARTICLES = "articles"
# Writers add to a shard picked at random and hold its row lock until they commit; with
# this many, two of the pool's concurrent transactions rarely pick the same one, while a
# read still sums a fixed, small number of rows.
SHARDS = 16


class CounterDAO:
    """Totals changed in the same transaction as the rows they count: an atomic upsert, so
    concurrent writers never lose an increment and a missing row counts as zero."""

    async def add(self, session: AsyncSession, name: str, delta: int) -> None:
        table = Counter.__table__
        stmt = insert(session, table).values(
            name=name, shard=secrets.randbelow(SHARDS), value=delta
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.name, table.c.shard], set_={"value": table.c.value + delta}
        )
        await session.execute(stmt)

    def value_of(self, name: str) -> ScalarSelect[int]:
        """The total: its shards summed (a shard may be negative, the sum never is)."""
        return (
            select(cast(func.coalesce(func.sum(Counter.value), 0), BigInteger))
            .where(Counter.name == name)
            .scalar_subquery()
        )


counter_dao = CounterDAO()

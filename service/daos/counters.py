from __future__ import annotations

import secrets
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ScalarSelect,
    String,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from service.daos.dialect import insert_rows, row_params
from service.daos.queries import dialect_name
from service.models import Counter

ARTICLES = "articles"
# Writers add to a shard picked at random and hold its row lock until they commit; with
# this many, two of the pool's concurrent transactions rarely pick the same one, while a
# read still sums a fixed, small number of rows. Other totals (one author's, below) are
# written by few at a time and kept in shard 0.
SHARDS = 16
SHARDED = frozenset({ARTICLES})
ARTICLES_BY = "articles_by:"


def articles_by(author_id: int) -> str:
    """The name of one author's article total (the feed's articlesCount sums them)."""
    return f"{ARTICLES_BY}{author_id}"


def articles_by_column(author_id: QueryableAttribute[int]) -> ColumnElement[str]:
    """`articles_by` in SQL, for a column of author ids."""
    return literal(ARTICLES_BY, String) + cast(author_id, String)


class CounterDAO:
    """Totals changed in the same transaction as the rows they count: an atomic upsert, so
    concurrent writers never lose an increment and a missing row counts as zero."""

    async def add(self, session: AsyncSession, deltas: Mapping[str, int]) -> None:
        """Add to several totals in one statement; rows lock in the order given, so writers
        that name the same totals in the same order cannot deadlock on them."""
        rows = [
            (name, secrets.randbelow(SHARDS) if name in SHARDED else 0, delta)
            for name, delta in deltas.items()
        ]
        statement = _upsert(dialect_name(session), len(rows))
        await session.execute(statement, row_params(_COLUMNS, rows))

    def value_of(self, name: str) -> ScalarSelect[int]:
        """The total: its shards summed (a shard may be negative, the sum never is)."""
        return (
            select(cast(func.coalesce(func.sum(Counter.value), 0), BigInteger))
            .where(Counter.name == name)
            .scalar_subquery()
        )


counter_dao = CounterDAO()


_COLUMNS = ("name", "shard", "value")


@cache
def _upsert(dialect: str, rows: int) -> Any:
    table = Counter.__table__
    statement = insert_rows(dialect, table, _COLUMNS, rows)
    return statement.on_conflict_do_update(
        index_elements=[table.c.name, table.c.shard],
        set_={"value": table.c.value + statement.excluded.value},
    )

"""Statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, entity: Any) -> Any:
    """An INSERT with ON CONFLICT support, for the session's database (both spell it alike)."""
    return insert_for(session.get_bind().dialect.name, entity)


def insert_for(dialect: str, entity: Any) -> Any:
    """`insert` for a dialect named ahead of any session (statements built once)."""
    if dialect == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


@lru_cache(maxsize=256)
def insert_rows(dialect: str, table: Table, columns: tuple[str, ...], rows: int) -> Any:
    """INSERT ... SELECT of `rows` rows of bound values, named column + row number (see
    `row_params`), ready for ON CONFLICT. SQLAlchemy compiles an INSERT with several VALUES
    rows again on every execution (it has no cache key); this shape compiles once."""
    selects = [
        select(*(bindparam(f"{name}{row}", type_=table.c[name].type) for name in columns))
        for row in range(rows)
    ]
    values = selects[0] if rows == 1 else union_all(*selects)
    return insert_for(dialect, table).from_select(list(columns), values)


def row_params(columns: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """The values of `insert_rows`' statement, row by row."""
    return {
        f"{name}{index}": value
        for index, row in enumerate(rows)
        for name, value in zip(columns, row, strict=True)
    }

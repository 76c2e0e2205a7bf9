"""How the hot read queries run: statements built once, executed as Core.

A statement built per request costs its construction and a fresh cache key before
SQLAlchemy finds the compiled form in its cache; the read statements here are built once
per shape (module constants or `functools.cache`) with bind parameters, so both are paid
once. They select columns, not entities, so they run on the session's connection as Core,
skipping the ORM's per-statement work: the same transaction, the same engine events
(the statement-count tests still see every statement).

`run_all` and `run_one` are for the hottest reads: on PostgreSQL they send the same statement
straight to the session's asyncpg connection (driver.py); rows index alike either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from service.daos.driver import compiled, driver_connection, fetch


async def fetch_all(
    session: AsyncSession, statement: Executable, params: dict[str, Any]
) -> Sequence[Any]:  # Rows: tuples with named columns
    connection = await session.connection()
    return (await connection.execute(statement, params)).all()


async def fetch_one(
    session: AsyncSession, statement: Executable, params: dict[str, Any]
) -> Any | None:
    connection = await session.connection()
    return (await connection.execute(statement, params)).first()


async def run_all(
    session: AsyncSession, statement: Executable, params: dict[str, Any]
) -> Sequence[Any]:  # asyncpg Records or SQLAlchemy Rows: index by column position
    driven = await driver_connection(session)
    if driven is None:
        return await fetch_all(session, statement, params)
    return await fetch(*driven, compiled(statement), params)


async def run_one(session: AsyncSession, statement: Executable, params: dict[str, Any]) -> Any:
    rows = await run_all(session, statement, params)
    return rows[0] if rows else None


def can_hold(text: str) -> bool:
    """Whether a text column can hold `text`. PostgreSQL refuses NUL (0x00) in text, even as a
    parameter, so no row holds one: a lookup by such a value finds nothing, without asking."""
    return "\x00" not in text


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name

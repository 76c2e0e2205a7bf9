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
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
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


M = TypeVar("M")


_COLUMN_KEYS: dict[type[Any], tuple[str, ...]] = {}


def _column_keys(model: type[Any]) -> tuple[str, ...]:
    keys = _COLUMN_KEYS.get(model)
    if keys is None:
        keys = _COLUMN_KEYS[model] = tuple(attr.key for attr in inspect(model).column_attrs)
    return keys


@cache
def entity_columns(model: type[Any]) -> Select[Any]:
    """SELECT of `model`'s mapped columns, in the order `load_one` reads them back; add the
    WHERE (and any JOIN) to it."""
    mapper = inspect(model)
    return select(*(attr.columns[0] for attr in mapper.column_attrs))


async def load_one(
    session: AsyncSession, model: type[M], statement: Executable, params: dict[str, Any]
) -> M | None:
    """The `model` object of the first row of `statement` (built on `entity_columns`), in the
    session as if the ORM had loaded it: changes to it are flushed as usual.

    For the lookups every signed-in request makes (the caller's user). The ORM's own load of
    one entity costs about as much CPU as a whole page of articles on the raw path; here the
    row comes from `run_all` and the object is built from it directly."""
    rows = await run_all(session, statement, params)
    if not rows:
        return None
    row = rows[0]
    obj: M = inspect(model).class_manager.new_instance()
    for key, value in zip(_column_keys(model), row, strict=True):
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)  # its identity key from the loaded primary key
    # One object per row in a session: one already there is the one to use (as a query
    # would return it, without overwriting it).
    existing = session.identity_map.get(inspect(obj).key)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    session.add(obj)
    return obj


def can_hold(text: str) -> bool:
    """Whether a text column can hold `text`. PostgreSQL refuses NUL (0x00) in text, even as a
    parameter, so no row holds one: a lookup by such a value finds nothing, without asking."""
    return "\x00" not in text


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name

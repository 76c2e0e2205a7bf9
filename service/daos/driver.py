"""Hot reads on PostgreSQL: the same statements, run on the session's own asyncpg connection.

SQLAlchemy's execution path (result metadata, row processors, the adapter's cursor) costs
about as much CPU again as asyncpg's fetch for a page of articles (docs/bench/hotreads.md).
These reads run their statement, compiled once from the SQLAlchemy construct the DAO builds,
on the asyncpg connection under the session, so whichever engine and transaction the session
uses (a read replica, a PgBouncer transaction) is used. asyncpg's own statement cache names
the prepared statements on a direct connection; behind PgBouncer (statement_cache_size=0,
db.py) it prepares them unnamed. SQLite keeps the SQLAlchemy path.

Kept as SQLAlchemy's execution would keep them: the engine's cursor events fire (statement
counts, tests and bench), and a statement that finds its connection dead invalidates it and
raises DBAPIError(connection_invalidated=True), so a read is retried on a fresh connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement, Executable


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement's PostgreSQL text ($n placeholders) and the bind names in their order."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]  # values the construct holds itself (a literal 0 in coalesce)

    def args(self, params: dict[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [params[name] if name in params else fixed[name] for name in self.names]


_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@cache
def compiled(statement: Executable) -> Compiled:
    """The text SQLAlchemy would send for `statement` on asyncpg (statements are built once
    per shape, so this is cached by identity)."""
    done = cast(ClauseElement, statement).compile(dialect=_DIALECT)
    names = tuple(getattr(done, "positiontup", None) or ())
    return Compiled(str(done), names, dict(done.params))


async def driver_connection(session: AsyncSession) -> tuple[AsyncConnection, Any] | None:
    """The session's connection and its asyncpg connection, when a statement sent straight
    to it runs where SQLAlchemy's would: PostgreSQL, and either autocommit (GET sessions) or
    a transaction already begun. Else None: the caller runs the SQLAlchemy path (SQLite, or a
    transaction SQLAlchemy's adapter has yet to BEGIN)."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return None
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    # The adapter begins its transaction lazily, at its first statement; ours must not run
    # outside it.
    if not (adapted.autocommit or getattr(adapted, "_transaction", None) is not None):
        return None
    return connection, adapted.driver_connection


async def fetch(
    connection: AsyncConnection, driver: Any, statement: Compiled, params: dict[str, Any]
) -> list[asyncpg.Record]:
    args = statement.args(params)
    sync: Any = connection.sync_connection
    # As SQLAlchemy's own execution decides whether to fire them.
    events = sync._has_events or sync.engine._has_events
    if events:
        sync.dispatch.before_cursor_execute(sync, None, statement.sql, args, None, False)
    try:
        rows: list[asyncpg.Record] = await driver.fetch(statement.sql, *args)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        if _lost(driver, exc):
            # As SQLAlchemy does on a disconnect: every pooled connection older than now goes
            # too (they most likely died with this one), then this one.
            sync.engine.pool._invalidate(sync.connection, exc, _checkin=False)
            await connection.invalidate(exc)
            raise DBAPIError(
                statement.sql, None, exc, hide_parameters=True, connection_invalidated=True
            ) from exc
        raise
    if events:
        sync.dispatch.after_cursor_execute(sync, None, statement.sql, args, None, False)
    return rows


def _lost(driver: Any, exc: Exception) -> bool:
    """The connection is gone: closed already, or about to be (the socket failed, or a
    connection exception, SQLSTATE class 08, before asyncpg has marked it closed)."""
    return (
        driver.is_closed()
        or isinstance(exc, OSError | asyncpg.PostgresConnectionError)
        or (isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc))
    )

"""Alembic environment: the URL comes from the service's settings (DATABASE_URL), never from a file.

Only DATABASE_URL is needed, in production too (`load_migration_config`). A database that cannot
be reached or does not exist stops the command with one line saying which and what to do.
Tests hand in an open connection through `config.attributes["connection"]`, so they can migrate
inside their own event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

from alembic import context
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from service.config import ConfigError, Settings, load_migration_config
from service.db import create_engine
from service.models import Base
from service.models.jobs import is_model_object

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_name=is_model_object,  # procrastinate's tables are its own
        # SQLite alters tables by copying them: batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table and drops the old one; with foreign keys on, that drop
        # cascades (dropping `users` would delete every article). SQLite only honours this
        # pragma outside a transaction, so it goes to the driver before Alembic begins one.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"the migration left rows with broken references: {broken}")
    finally:
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection: Connection, statement: str) -> None:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


class DatabaseUnavailable(Exception):
    """The database cannot be used at all; the message is the one line the operator reads."""


def _describe_connect_error(settings: Settings, exc: Exception) -> str:
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
        return f"cannot open the SQLite database {url.database}: {reason}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    cause: BaseException | None = exc
    while cause is not None and getattr(cause, "sqlstate", None) is None:
        cause = cause.__cause__
    if getattr(cause, "sqlstate", None) == "3D000":  # invalid_catalog_name
        return (
            f'database "{url.database}" does not exist on {where}; create it first '
            f"(createdb -h {url.host} -p {url.port or 5432} -U {url.username} {url.database}, "
            f'or CREATE DATABASE "{url.database}"), then migrate again'
        )
    reason = str(cause if cause is not None else exc).splitlines()[0]
    if isinstance(exc, OSError):
        reason = exc.strerror or reason
    return f"cannot connect to PostgreSQL at {where} as {url.username}: {reason}"


def _check_sqlite_opens(settings: Settings) -> None:
    # With the standard driver: aiosqlite's failed connect leaves a thread that writes to the
    # closed event loop, a traceback after the one-line message.
    path = make_url(settings.database_url).database
    if not path or path == ":memory:":
        return
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(_describe_connect_error(settings, exc)) from exc


async def _run_async() -> None:
    settings = load_migration_config()
    engine = create_engine(settings)  # for SQLite, this makes the file's folder
    try:
        if settings.is_sqlite:
            _check_sqlite_opens(settings)
        try:
            connection = await engine.connect()
        except (OSError, DBAPIError) as exc:
            raise DatabaseUnavailable(_describe_connect_error(settings, exc)) from exc
        try:
            await connection.run_sync(_run)
            await connection.commit()
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _run_online() -> None:
    try:
        asyncio.run(_run_async())
    except (ConfigError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def run_offline() -> None:
    context.configure(
        url=load_migration_config().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    _run_online()

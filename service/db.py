"""Engine per app; one AsyncSession per request, committed below status 400, else rolled back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from quart import Quart, Response, current_app, g, request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from service.config import Settings

# An execution option of the engine that GET and HEAD sessions use on SQLite.
READS_ONLY_OPTION = "conduit_reads_only"


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured URL; SQLite gets foreign keys, WAL and working savepoints."""
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=settings.db_echo, connect_args={"timeout": settings.db_pool_timeout}
        )
        _sqlite_pragmas(engine)
        _replace_closed_connections(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args={
            "timeout": settings.db_pool_timeout,
            "server_settings": {
                "application_name": "conduit-service",
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )
    _replace_closed_connections(engine)
    return engine


def _driver_closed(driver_connection: Any) -> bool:
    is_closed = getattr(driver_connection, "is_closed", None)  # asyncpg
    if callable(is_closed):
        return bool(is_closed())
    try:
        driver_connection.in_transaction  # noqa: B018  (aiosqlite raises once closed)
    except ValueError:
        return True
    return False


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server has closed is replaced before a request gets it.

    SQLAlchemy's pool_pre_ping asks the server on every checkout (with asyncpg: BEGIN, a
    ping, COMMIT: three round trips per request). A connection PostgreSQL closed (restart,
    failover, pg_terminate_backend, idle timeout) is already known closed to the driver, so
    checking that flag costs nothing and covers the same cases; raising DisconnectionError
    makes the pool discard it and hand out a fresh one. Only a connection dropped silently
    by the network (no FIN or RST) gets past it: DB_POOL_PRE_PING=true adds the round trip.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _driver_closed(dbapi_connection.driver_connection):
            raise DisconnectionError("the database closed this connection")


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe
    # hands BEGIN to us. IMMEDIATE takes the write lock up front, so concurrent writers wait
    # (busy_timeout) instead of failing on a read-to-write lock upgrade. Reads (GET, HEAD)
    # begin deferred: under WAL they take no lock and never wait for a writer.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        reads_only = conn.get_execution_options().get(READS_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


class Database:
    """The app's engine and session factory, alive between before_serving and after_serving."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._read_sessionmaker: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the database is not connected: the app is not serving")
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._sessionmaker is None:
            raise RuntimeError("the database is not connected: the app is not serving")
        return self._sessionmaker

    @property
    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for GET and HEAD, which never write: on PostgreSQL they run in autocommit,
        saving the BEGIN and COMMIT round trips (under READ COMMITTED every statement sees its
        own snapshot anyway, so a transaction would buy a read nothing); on SQLite they begin
        deferred, taking no write lock."""
        if self._read_sessionmaker is None:
            raise RuntimeError("the database is not connected: the app is not serving")
        return self._read_sessionmaker

    @property
    def connected(self) -> bool:
        return self._engine is not None

    def checked_out(self) -> int:
        """Connections in use right now (for the pool gauge)."""
        pool = self.engine.pool
        checkedout = getattr(pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    async def connect(self) -> None:
        self._engine = create_engine(self.settings)
        # expire_on_commit=False: responses read attributes after the commit.
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)
        reads = (
            self._engine.execution_options(**{READS_ONLY_OPTION: True})  # deferred BEGIN
            if self.settings.is_sqlite  # where the BEGIN recipe above owns transactions
            else self._engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read_sessionmaker = async_sessionmaker(reads, expire_on_commit=False)

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessionmaker = None
        self._read_sessionmaker = None

    async def ping(self, seconds: float) -> bool:
        """True when the database answers a trivial query within `seconds`."""
        try:
            async with asyncio.timeout(seconds), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


def init_app(app: Quart, settings: Settings) -> Database:
    database = Database(settings)
    app.extensions["db"] = database

    @app.before_serving
    async def _connect() -> None:
        await database.connect()

    @app.after_serving
    async def _dispose() -> None:
        await database.dispose()

    @app.after_request
    async def _finish(response: Response) -> Response:
        session: AsyncSession | None = g.pop("db_session", None)
        if session is None:
            return response
        try:
            # A read has nothing to commit: close() below ends it.
            if request.method not in READ_ONLY_METHODS:
                if response.status_code < 400:
                    # A failed commit raises here and becomes a 500, never a false success.
                    await session.commit()
                else:
                    await session.rollback()
        finally:
            await session.close()
        return response

    @app.teardown_request
    async def _close(_exc: BaseException | None) -> None:
        # Reached with the session still open only when the request failed before after_request.
        session: AsyncSession | None = g.pop("db_session", None)
        if session is not None:
            await session.close()

    return database


# Safe methods: their handlers must not write (HTTP semantics; the reads run in autocommit).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def database() -> Database:
    db: Database = current_app.extensions["db"]
    return db


def session() -> AsyncSession:
    """The current request's session, opened on first use."""
    existing: AsyncSession | None = g.get("db_session")
    if existing is None:
        reads_only = request.method in READ_ONLY_METHODS
        maker = database().read_sessionmaker if reads_only else database().sessionmaker
        existing = maker()
        g.db_session = existing
    return existing

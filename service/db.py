"""Engine per app; one AsyncSession per request, committed below status 400, else rolled back.

Also what the rest of the app needs to know about a database that fails: which errors mean
"unavailable, try again" (`unavailable`), which mean a read found its connection dead and may
run again on a fresh one (`dead_connection`), and how to describe either without the values
of the statement (`describe`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

from quart import Quart, Response, current_app, g, request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from service.config import Settings
from service.replica import ReplicaMonitor

# An execution option of the engine that GET and HEAD sessions use on SQLite.
READS_ONLY_OPTION = "conduit_reads_only"


def create_engine(settings: Settings, url_text: str | None = None) -> AsyncEngine:
    """An engine for DATABASE_URL (or `url_text`, the read replica's, set up alike); SQLite
    gets foreign keys, WAL and working savepoints."""
    url = make_url(url_text or settings.database_url)
    if settings.is_sqlite:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            hide_parameters=True,
            connect_args={"timeout": settings.db_pool_timeout},
        )
        _sqlite_pragmas(engine)
        _replace_closed_connections(engine)
        return engine
    pooled = settings.database_pooler == "pgbouncer"
    # application_name is one of the few startup parameters PgBouncer accepts and keeps per
    # client (it sets it on whichever server connection the client gets).
    server_settings = {"application_name": "conduit-service"}
    connect_args: dict[str, Any] = {
        "timeout": settings.db_pool_timeout,
        "server_settings": server_settings,
    }
    if pooled:
        connect_args.update(PGBOUNCER_CONNECT_ARGS)
    else:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        # Bind values are user data (titles, bodies, emails, password hashes): never in an
        # error's text, so never in a log.
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args=connect_args,
    )
    _replace_closed_connections(engine)
    _terminate_invalidated_connections(engine)
    if pooled:
        _statement_timeout_per_transaction(engine, settings.db_statement_timeout_ms)
    return engine


# Behind PgBouncer in transaction pooling mode, consecutive transactions of one client
# connection may run on different server connections, and so may the protocol messages of a
# single statement outside a transaction. A named prepared statement lives on one server
# connection: asyncpg's statement cache (and SQLAlchemy's over it) would name statements that
# the next server connection does not have ("prepared statement ... does not exist"). With
# both caches off, asyncpg prepares each statement unnamed and parses it again in the same
# message sequence that binds and executes it (asyncpg's FAQ; asyncpg >= 0.29), which holds on
# any PgBouncer version, with or without its own prepared-statement support (1.21+), inside a
# transaction or not. SQLAlchemy's documented alternative, unique names from
# prepared_statement_name_func, holds inside a transaction only: measured through PgBouncer
# 1.18, 95 % of statements outside one failed; and the named statements pile up on the server
# connections until each is closed.
PGBOUNCER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,  # asyncpg
    "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter
}


def _statement_timeout_per_transaction(engine: AsyncEngine, timeout_ms: int) -> None:
    """Behind a transaction pooler, the statement timeout is set in every transaction.

    A startup parameter (server_settings) reaches PgBouncer, not the server connections it
    hands out (PgBouncer refuses it: "unsupported startup parameter"), and a session-level SET
    would stay on a server connection that other clients get next. SET LOCAL ends with its
    transaction, wherever that ran; so every session behind the pooler, reads included, runs
    in a transaction (see Database.connect).
    """
    if timeout_ms <= 0:
        return
    statement = f"SET LOCAL statement_timeout = {int(timeout_ms)}"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)


def _terminate_invalidated_connections(engine: AsyncEngine) -> None:
    """A connection SQLAlchemy gives up on is dropped at once, not closed politely.

    On a cancelled statement (a request past its deadline, a client gone) or a dead connection,
    SQLAlchemy invalidates the connection, and its asyncpg adapter then closes it with
    `close(timeout=2)`, shielded from cancellation: against a frozen server that is 2 s more
    on the request's path (503s measured at deadline + 2 s; /readyz at 4 s for a 2 s check),
    and a client that leaves meanwhile gets a CancelledError traceback in the log. Terminating
    the driver connection first makes that close a no-op; the server rolls back whatever the
    connection had open when it sees the socket go.
    """

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        terminate = getattr(dbapi_connection.driver_connection, "terminate", None)
        if callable(terminate):  # asyncpg; aiosqlite has no socket to hang on
            terminate()


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
    """The app's engine and session factory, alive between before_serving and after_serving.

    With `with_replica` (the web app's) and DATABASE_READ_URL set, also the read replica's
    engine, its read sessions and the monitor that says whether reads may use it; the worker
    and the CLI use the primary only.
    """

    def __init__(self, settings: Settings, *, with_replica: bool = False) -> None:
        self.settings = settings
        self._failing = False
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._with_replica = with_replica and settings.database_read_url is not None
        self._replica_engine: AsyncEngine | None = None
        self._replica_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        # Set by a successful write's commit (read_routing: the caller's reads stay on the
        # primary for a while); None without a replica.
        self.after_write: Callable[[], Awaitable[None]] | None = None
        self.replica: ReplicaMonitor | None = None

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
        own snapshot anyway, so a transaction would buy a read nothing), except behind
        PgBouncer, where the transaction carries the statement timeout; on SQLite they begin
        deferred, taking no write lock."""
        if self._read_sessionmaker is None:
            raise RuntimeError("the database is not connected: the app is not serving")
        return self._read_sessionmaker

    @property
    def replica_engine(self) -> AsyncEngine:
        if self._replica_engine is None:
            raise RuntimeError("no read replica: DATABASE_READ_URL is unset or not connected")
        return self._replica_engine

    @property
    def replica_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Read sessions on the replica, set up as read_sessionmaker's are on the primary."""
        if self._replica_sessionmaker is None:
            raise RuntimeError("no read replica: DATABASE_READ_URL is unset or not connected")
        return self._replica_sessionmaker

    @property
    def connected(self) -> bool:
        return self._engine is not None

    def checked_out(self) -> int:
        """Connections in use right now (for the pool gauge)."""
        pool = self.engine.pool
        checkedout = getattr(pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    def outage_begins(self) -> bool:
        """Note that the database could not be used: true for the first time since it last
        answered (a new connection succeeded), so an outage logs its traceback once."""
        begins, self._failing = not self._failing, True
        return begins

    def _answered(self, *_args: Any) -> None:
        self._failing = False

    async def connect(self) -> None:
        self._engine = create_engine(self.settings)
        event.listen(self._engine.sync_engine, "connect", self._answered)
        # expire_on_commit=False: responses read attributes after the commit.
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)
        self._read_sessionmaker = self._reads(self._engine)
        if self._with_replica and self.settings.database_read_url is not None:
            self._replica_engine = create_engine(self.settings, self.settings.database_read_url)
            self._replica_sessionmaker = self._reads(self._replica_engine)
            self.replica = ReplicaMonitor(
                self._engine,
                self._replica_engine,
                max_lag=self.settings.replica_max_lag_seconds,
                interval=self.settings.replica_check_seconds,
            )
            await self.replica.start()

    def _reads(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        if self.settings.is_sqlite:  # where the BEGIN recipe above owns transactions
            reads = engine.execution_options(**{READS_ONLY_OPTION: True})  # deferred BEGIN
        elif self.settings.database_pooler == "pgbouncer":
            # A transaction, for its SET LOCAL statement_timeout (nothing else would bound a
            # read's statements behind the pooler); ended by a ROLLBACK at close.
            reads = engine
        else:
            reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        return async_sessionmaker(reads, expire_on_commit=False)

    async def dispose(self) -> None:
        if self.replica is not None:  # first: its checks use both engines
            await self.replica.stop()
            self.replica = None
        if self._replica_engine is not None:
            await self._replica_engine.dispose()
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessionmaker = None
        self._read_sessionmaker = None
        self._replica_engine = None
        self._replica_sessionmaker = None

    async def ping(self, seconds: float) -> bool:
        """True when the database answers a trivial query within `seconds`."""
        try:
            async with asyncio.timeout(seconds), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


def init_app(app: Quart, settings: Settings) -> Database:
    database = Database(settings, with_replica=True)
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
        failed: Exception | None = None
        try:
            # A read has nothing to commit: close() below ends it.
            if request.method not in READ_ONLY_METHODS:
                if response.status_code < 400:
                    try:
                        await session.commit()
                    except Exception as exc:  # never a false success
                        failed = exc
                        # Explicitly: a COMMIT that SQLite refused leaves its transaction open.
                        await session.rollback()
                    else:
                        if database.after_write is not None:
                            await database.after_write()
                else:
                    await session.rollback()
        finally:
            await session.close()
        if failed is not None:
            # Answered by the app's error handlers, like a failure in the view: the same
            # status and body (503 for an unavailable database, else 500).
            answer = await current_app.make_response(
                await current_app.handle_user_exception(failed)
            )
            return cast(Response, answer)  # the error handlers make Quart responses
        return response

    @app.teardown_request
    async def _close(_exc: BaseException | None) -> None:
        # Reached with the session still open only when the request never got to
        # after_request: cancelled (its client went away) or failed while finishing.
        await abandon_session()

    return database


async def abandon_session() -> None:
    """Drop the request's session without talking to the database: its connection is
    invalidated (terminated; the server rolls back). For a request cancelled or past its
    deadline, where a polite rollback could wait on a database that no longer answers."""
    session: AsyncSession | None = g.pop("db_session", None)
    if session is not None:
        await session.invalidate()


# Safe methods: their handlers must not write (HTTP semantics; the reads run in autocommit).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})

# PostgreSQL's SQLSTATEs for a server that cannot take work now: connection exceptions (class
# 08), shutting down or starting up (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now: "the database system is shutting down", "... is not accepting connections"),
# too many connections (53300), and work it would not finish in time: statement_timeout
# (57014, the server's side of the request deadline) and lock_timeout (55P03).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014", "55P03"})
# PostgreSQL's SQLSTATE classes whose primary messages name objects, never values.
_NAMING_CLASSES = frozenset({"08", "0A", "23", "25", "3D", "3F", "40", "42", "53", "55", "57"})
# SQLite's messages for a file it cannot use now.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and its causes (`raise ... from`, as SQLAlchemy and the drivers wrap theirs),
    not errors that were merely being handled when it was raised."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE for the error or any of its causes; None if none has one."""
    return next(filter(None, map(_sqlstate, _chain(exc))), None)


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached or would not take the work: refused, reset, shutting
    down, a connection lost mid-statement, a pool or connect timeout, a statement or lock
    timeout. The same request may succeed later, so the client is told 503 with Retry-After,
    not 500."""
    for error in _chain(exc):
        if isinstance(error, PoolTimeout):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        # Raw from the driver's connect (refused, unreachable, connect timeout), or under any
        # other backing service's error: the network, not a bug.
        if isinstance(error, OSError):
            return True
        code = _sqlstate(error)
        if code is not None and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(error, sqlite3.OperationalError) and str(error).lower().startswith(
            _SQLITE_UNAVAILABLE
        ):
            return True
    return False


def dead_connection(exc: BaseException) -> bool:
    """A statement failed because its connection was found dead (SQLAlchemy invalidated it): a
    read may run again on a fresh connection."""
    return any(
        isinstance(error, DBAPIError) and error.connection_invalidated for error in _chain(exc)
    )


def describe(exc: BaseException) -> dict[str, str]:
    """What failed, for a log line, without the data: the driver's error class, its SQLSTATE,
    the SQL with placeholders (bind parameters keep values out of it) and, only where it never
    quotes a value, the first line of the message."""
    # The innermost error, short of a cancellation that a timeout turned into TimeoutError.
    root = [error for error in _chain(exc) if isinstance(error, Exception)][-1]
    fields = {"error": type(root).__name__}
    code = sqlstate(exc)
    if code is not None:
        fields["sqlstate"] = code
    if isinstance(exc, StatementError) and exc.statement:
        fields["statement"] = " ".join(exc.statement.split())[:500]
    # The first line of the message where it never quotes a value: the OS's and the pool's,
    # SQLite's (it names columns, not values), and PostgreSQL's for the classes that name
    # objects only (connections, integrity, transactions, schema, resources, shutdown).
    # Not data exceptions (22: 'invalid input syntax for type integer: "abc"'), nor the
    # DETAIL line ('Key (email)=(...) already exists').
    if (
        isinstance(root, OSError | PoolTimeout | sqlite3.Error)
        or (code is not None and code[:2] in _NAMING_CLASSES)
        or code in _UNAVAILABLE_SQLSTATES
    ):
        fields["reason"] = str(root).split("\n", 1)[0][:200]
    return fields


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

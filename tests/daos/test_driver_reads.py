"""The hot reads' two paths (daos/queries.py `run_all`): on PostgreSQL the statement goes
straight to the session's asyncpg connection, on SQLite through SQLAlchemy; the rows are the
same either way, the engine's events see the statement, and a dead connection is reported
as SQLAlchemy reports one (so a read is retried on a fresh connection)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service import db
from service.daos.articles import ArticleFilter, _one_statement, _page_statements, article_dao
from service.daos.driver import driver_connection
from service.daos.queries import fetch_all, run_all


@pytest.fixture
async def written(client, users, articles):
    alice = await users.make()
    for n in range(3):
        await articles.make(alice, title=f"Driven {n}", tags=["t", f"n{n}"])
    return alice


async def test_reads_take_the_driver_path_on_postgresql_only(app, written):
    database = app.extensions["db"]
    postgres = not database.settings.is_sqlite
    async with database.read_sessionmaker() as session:
        assert (await driver_connection(session) is not None) is postgres
    async with database.sessionmaker() as session:
        # A transaction SQLAlchemy's adapter has yet to begin: its first statement is its own.
        assert await driver_connection(session) is None
        await article_dao.id_by_slug(session, "driven-0")
        assert (await driver_connection(session) is not None) is postgres
        await session.rollback()


async def test_both_paths_give_the_same_rows(app, written):
    params = {"limit": 20, "offset": 0, "viewer_id": written.id}
    dialect = app.extensions["db"].engine.dialect.name
    page, _ = _page_statements((frozenset(), True), dialect)
    one = _one_statement(True, True, dialect)
    async with app.extensions["db"].read_sessionmaker() as session:
        for statement, values in ((page, params), (one, {"slug": "driven-1", "viewer_id": 1})):
            driven = [tuple(row) for row in await run_all(session, statement, values)]
            plain = [tuple(row) for row in await fetch_all(session, statement, values)]
            assert driven == plain
            assert driven


async def test_the_engine_sees_each_statement(app, written):
    engine = app.extensions["db"].engine.sync_engine
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if not statement.startswith("BEGIN"):  # SQLite's deferred BEGIN (db.py)
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        async with app.extensions["db"].read_sessionmaker() as session:
            views, total = await article_dao.page(
                session, ArticleFilter(), viewer_id=None, limit=20, offset=0
            )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (len(views), total) == (3, 3)
    assert len(seen) == 1  # the page with its total and tags
    assert "ORDER BY" in seen[0]


async def test_a_dead_connection_is_reported_as_sqlalchemy_reports_one(app, written):
    database = app.extensions["db"]
    async with database.read_sessionmaker() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if database.settings.is_sqlite:
            await driver.close()
        else:  # as a restart or failover would, while the request holds the connection
            dsn = make_url(database.settings.database_url).set(drivername="postgresql")
            admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            try:
                pid = driver.get_server_pid()
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                for _ in range(200):  # it returns before the backend is gone
                    if not await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
                    ):
                        break
                    await asyncio.sleep(0.01)
            finally:
                await admin.close()
        with pytest.raises(DBAPIError) as failed:
            await article_dao.page(session, ArticleFilter(), viewer_id=None, limit=20, offset=0)
        assert db.dead_connection(failed.value)

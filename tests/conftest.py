"""Fixtures: settings, a migrated database, a fresh app per test, its client, users, query counts.

`TEST_DATABASE_URL` picks the database: unset, a SQLite file in a temporary folder; set to a
`postgresql+asyncpg://` URL, that database (created if missing, emptied and migrated once per
run). An unreachable PostgreSQL fails the run: nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from quart import Quart
from quart.typing import TestClientProtocol
from sqlalchemy import event, exists, literal, select, text, union_all
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service import create_app
from service.config import Settings, load_config
from service.db import create_engine
from service.models import Base
from tests.factories import ArticleMaker, UserFactory
from tests.replication import Pair, migrated_pair

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return load_config("testing", database_url=database_url)


async def create_postgres_database(url: str) -> None:
    import asyncpg

    target = make_url(url)
    admin_dsn = target.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


def alembic_config() -> Config:
    return Config(toml_file=str(ROOT / "pyproject.toml"))


async def migrate_to_head(engine: AsyncEngine) -> None:
    """The app's migrations, up to head, on `engine`'s database."""
    async with engine.connect() as conn:

        def upgrade(sync_conn: Any) -> None:
            config = alembic_config()
            config.attributes["connection"] = sync_conn
            command.upgrade(config, "head")

        await conn.run_sync(upgrade)
        await conn.commit()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, emptied and migrated to head once per run."""
    if not settings.is_sqlite:
        await create_postgres_database(settings.database_url)
    engine = create_engine(settings)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def replication_pair() -> AsyncIterator[Pair]:
    """One private streaming pair for the run (tests/replication.py), migrated: made the first
    time a PostgreSQL run reaches tests/replica or tests/scaleout, and shared by both (each
    made its own before, 5 to 15 s apiece on this host). Each folder takes it restored
    (`Pair.restore`: the standby running and caught up) and leaves its tables empty."""
    async with migrated_pair() as made:
        yield made


# The sequences the app's tables own (serial and identity columns), each back to its start:
# what TRUNCATE ... RESTART IDENTITY does to them.
RESTART_SEQUENCES = text("""
    SELECT setval(s.oid, q.seqstart, false) FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_class s ON s.oid = d.objid
    JOIN pg_sequence q ON q.seqrelid = s.oid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.deptype IN ('a', 'i') AND s.relkind = 'S'
      AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:names)
""")


async def empty_tables(engine: AsyncEngine) -> None:
    """Every row of the app's tables gone, their ids starting again at 1 (TRUNCATE ... RESTART
    IDENTITY, as this did before). On PostgreSQL: locked as TRUNCATE locks them (waiting for
    whatever still uses them), then DELETE from the tables that have rows, children first, and
    the sequences reset. TRUNCATE makes new files for every table and index, about 0.1 s per
    test on a loaded host (over a minute of the suite); this takes about 0.01 s. Nothing fires
    on DELETE (the only trigger, on job_outbox, is AFTER INSERT)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = [table.name for table in tables]
            await conn.execute(text(f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE"))
            probe = union_all(
                *(select(literal(t.name)).where(exists().select_from(t)) for t in tables)
            )
            with_rows = {row[0] for row in await conn.execute(probe)}
            for table in tables:
                if table.name in with_rows:
                    await conn.execute(table.delete())
            await conn.execute(RESTART_SEQUENCES, {"names": names})
        else:
            for table in tables:
                await conn.execute(table.delete())


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Quart]:
    """A fresh app serving from the migrated database; every row a test made is gone after it."""
    app = create_app(settings)
    try:
        async with app.test_app():
            yield app
    finally:
        await empty_tables(engine)


@pytest.fixture
async def app_with(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Any]:
    """An app built with some settings changed; its rows are removed after the test."""
    made: list[Any] = []

    async def build(**overrides: Any) -> Quart:
        app = create_app(settings.model_copy(update=overrides))
        context = app.test_app()
        await context.__aenter__()
        made.append(context)
        return app

    yield build
    for context in made:
        await context.__aexit__(None, None, None)
    await empty_tables(engine)


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def users(app: Quart) -> UserFactory:
    return UserFactory(app)


@pytest.fixture
def articles(client: TestClientProtocol) -> ArticleMaker:
    """Articles written through the API (POST /api/articles) by factory-made users."""
    return ArticleMaker(client)


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def count_queries(app: Quart) -> Iterator[QueryCounter]:
    """Counts the SQL statements the app's engine runs (savepoints and pings excluded)."""
    counter = QueryCounter()
    sync_engine = app.extensions["db"].engine.sync_engine

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if word not in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "PRAGMA"):
            counter.statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", _record)
    yield counter
    event.remove(sync_engine, "before_cursor_execute", _record)

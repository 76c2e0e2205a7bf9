"""Alembic and the models agree, and the migrations run both ways from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.config import Settings, load_config
from service.db import create_engine
from service.models import Base
from service.models.jobs import is_model_object
from tests.conftest import alembic_config, create_postgres_database

ROOT = Path(__file__).resolve().parents[2]


async def test_models_match_migrations(engine: AsyncEngine):
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": is_model_object,
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


def _alembic(url: str, *args: str) -> str:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


async def _migrate(url: str, action: str, revision: str) -> None:
    """`alembic upgrade|downgrade REVISION` on `url`, run in this process as the test database's
    own migration is (tests/conftest.py, migrate_to_head): the same env.py and revisions,
    without a Python start and the app's imports per step (seconds each on a loaded host). The
    command line itself is test_alembic_cli_upgrades_and_downgrades's and the operator tests'."""
    engine = create_engine(load_config("testing", database_url=url))
    try:
        async with engine.connect() as conn:

            def run(sync_conn: Any) -> None:
                config = alembic_config()
                config.attributes["connection"] = sync_conn
                getattr(command, action)(config, revision)

            await conn.run_sync(run)
            await conn.commit()
    finally:
        await engine.dispose()


async def test_alembic_cli_upgrades_and_downgrades(settings: Settings, tmp_path: Path):
    """`alembic upgrade head` reads DATABASE_URL; every revision also downgrades cleanly."""
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_migrations").render_as_string(False)
        await create_postgres_database(url)
    # An earlier run may have left it migrated: emptied in-process (_migrate), as setup.
    await _migrate(url, "downgrade", "base")
    _alembic(url, "upgrade", "head")
    assert "(head)" in _alembic(url, "current")
    _alembic(url, "downgrade", "base")
    _alembic(url, "upgrade", "head")


async def _migration_database(settings: Settings, tmp_path: Path, name: str) -> str:
    if settings.is_sqlite:
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
    target = make_url(settings.database_url)
    url = target.set(database=f"{target.database}_{name}").render_as_string(False)
    await create_postgres_database(url)
    return url


async def _run(url: str, *statements: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(statement)) for statement in statements]
            return [result.all() if result.returns_rows else None for result in results]
    finally:
        await engine.dispose()


_USER_COLUMNS = "id, username, username_key, email, password_hash, role, created_at, updated_at"
_ARTICLE_COLUMNS = (
    "id, slug, title, description, body, author_id, favorites_count, created_at, updated_at"
)


def _users(*names: str) -> str:
    """Users 1, 2, ... named `names`, as the schema of 0002 onwards holds them."""
    rows = ", ".join(
        f"({n}, '{name}', '{name}', '{name}@example.com', 'x', 'user', CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP)"
        for n, name in enumerate(names, 1)
    )
    return f"INSERT INTO users ({_USER_COLUMNS}) VALUES {rows}"  # noqa: S608 (tests' constants)


def _articles(*articles: tuple[int, str, int]) -> str:
    """Articles (id, slug, author id), titled as their slugs."""
    rows = ", ".join(
        f"({id_}, '{slug}', '{slug.title()}', 'd', 'b', {author}, 0, CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP)"
        for id_, slug, author in articles
    )
    return f"INSERT INTO articles ({_ARTICLE_COLUMNS}) VALUES {rows}"  # noqa: S608 (as above)


async def test_tags_casefold_merges_case_variants_and_recounts(settings: Settings, tmp_path: Path):
    """0003 merges tags that differ only in case into the oldest, keeps every article's links
    (once), recounts, frees a reserved slug; it goes down and up again."""
    url = await _migration_database(settings, tmp_path, "tags_casefold")
    await _migrate(url, "downgrade", "base")
    await _migrate(url, "upgrade", "0002")
    await _run(
        url,
        _users("a"),
        _articles((1, "one", 1), (2, "feed", 1), (3, "three", 1)),
        # Counts as concurrent deletes left them: wrong.
        "INSERT INTO tags (id, name, articles_count) VALUES (1, 'Dragons', -1), (2, 'dragons', 5),"
        " (3, 'DRAGONS', 0), (4, 'other', 7)",
        "INSERT INTO article_tags (article_id, tag_id, created_at) VALUES"
        " (1, 1, CURRENT_TIMESTAMP), (1, 2, CURRENT_TIMESTAMP), (2, 3, CURRENT_TIMESTAMP),"
        " (3, 2, CURRENT_TIMESTAMP), (3, 4, CURRENT_TIMESTAMP)",
    )
    await _migrate(url, "upgrade", "head")
    tags, links, slugs = await _run(
        url,
        "SELECT id, name, name_key, articles_count FROM tags ORDER BY id",
        "SELECT article_id, tag_id FROM article_tags ORDER BY article_id, tag_id",
        "SELECT id, slug FROM articles ORDER BY id",
    )
    assert [tuple(row) for row in tags] == [(1, "Dragons", "dragons", 3), (4, "other", "other", 1)]
    assert [tuple(row) for row in links] == [(1, 1), (2, 1), (3, 1), (3, 4)]
    assert slugs[1][1].startswith("feed-")
    assert [row[1] for row in slugs if row[0] != 2] == ["one", "three"]
    await _migrate(url, "downgrade", "0002")
    tags, links = await _run(
        url, "SELECT id, name FROM tags ORDER BY id", "SELECT count(*) FROM article_tags"
    )
    assert [tuple(row) for row in tags] == [(1, "Dragons"), (4, "other")]
    assert links[0][0] == 4
    await _migrate(url, "upgrade", "head")


async def test_counter_shards_keep_totals_both_ways(settings: Settings, tmp_path: Path):
    """0011 makes each total shard 0 of itself; down again, each total's shards are summed
    into one row, whether or not it had a shard 0."""
    url = await _migration_database(settings, tmp_path, "counter_shards")
    await _migrate(url, "downgrade", "base")
    await _migrate(url, "upgrade", "0010")
    await _run(url, "INSERT INTO counters (name, value) VALUES ('articles', 5)")
    await _migrate(url, "upgrade", "0011_counter_shards")
    (rows,) = await _run(url, "SELECT name, shard, value FROM counters")
    assert [tuple(row) for row in rows] == [("articles", 0, 5)]
    await _run(
        url,
        "INSERT INTO counters (name, shard, value) VALUES ('articles', 3, -2), ('articles', 9, 4),"
        " ('other', 2, 7), ('other', 5, 1)",
    )
    await _migrate(url, "downgrade", "0010")
    (rows,) = await _run(url, "SELECT name, value FROM counters ORDER BY name")
    assert [tuple(row) for row in rows] == [("articles", 7), ("other", 8)]
    await _migrate(url, "upgrade", "head")


def _alembic_as_operator(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`alembic upgrade head` as the image runs it: production, DATABASE_URL and nothing else."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "pyproject.toml"), "upgrade", "head"],
        cwd=cwd,  # no .env file here: only what is passed counts
        env={"PATH": os.environ["PATH"], "APP_ENV": "production", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrations_need_only_the_database_url(settings: Settings, tmp_path: Path):
    """The README's `docker run -e DATABASE_URL=... IMAGE alembic upgrade head`: no SECRET_KEY."""
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'operator.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_operator").render_as_string(False)
        await create_postgres_database(url)
    result = _alembic_as_operator(url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY" not in result.stderr


async def test_production_migrations_still_require_the_url(tmp_path: Path):
    result = _alembic_as_operator("", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: DATABASE_URL is required when APP_ENV is set to production"
    ]


async def test_a_database_that_does_not_exist_is_one_line(settings: Settings, tmp_path: Path):
    if settings.is_sqlite:  # SQLite creates a missing file; a folder in its place cannot open
        (tmp_path / "folder.db").mkdir()
        url = f"sqlite+aiosqlite:///{tmp_path / 'folder.db'}"
        expected = f"error: cannot open the SQLite database {tmp_path / 'folder.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database="conduit_no_such_database").render_as_string(False)
        expected = 'error: database "conduit_no_such_database" does not exist'
    result = _alembic_as_operator(url, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]


async def test_an_unreachable_server_is_one_line(tmp_path: Path):
    result = _alembic_as_operator("postgresql+asyncpg://app@127.0.0.1:1/app", tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1"), lines[0]


async def test_author_totals_count_each_authors_articles_and_go_again(
    settings: Settings, tmp_path: Path
):
    """0012 keeps each author's article count (the feed's articlesCount sums them) beside the
    overall total; down again, only those rows go."""
    url = await _migration_database(settings, tmp_path, "author_totals")
    await _migrate(url, "downgrade", "base")
    await _migrate(url, "upgrade", "0011_counter_shards")
    await _run(
        url,
        _users("a", "b", "c"),
        _articles((1, "one", 1), (2, "two", 2), (3, "three", 1)),
        "INSERT INTO counters (name, shard, value) VALUES ('articles', 0, 3)",
    )
    await _migrate(url, "upgrade", "0012_author_totals")
    (rows,) = await _run(url, "SELECT name, shard, value FROM counters ORDER BY name")
    assert [tuple(row) for row in rows] == [
        ("articles", 0, 3),
        ("articles_by:1", 0, 2),
        ("articles_by:2", 0, 1),
    ]
    await _migrate(url, "downgrade", "0011_counter_shards")
    (rows,) = await _run(url, "SELECT name, shard, value FROM counters")
    assert [tuple(row) for row in rows] == [("articles", 0, 3)]
    await _migrate(url, "upgrade", "head")

"""Revision 0005 (slug history) takes in the articles that exist when it runs, both ways."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from service.config import Settings
from tests.conftest import create_postgres_database
from tests.daos.test_migrations import _migrate


async def test_existing_articles_get_their_slug_into_the_history(
    settings: Settings, tmp_path: Path
):
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'slug_history.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_slug_history").render_as_string(False)
        await create_postgres_database(url)
    await _migrate(url, "downgrade", "base")
    await _migrate(url, "upgrade", "0002")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (id, username, username_key, email, password_hash, role,"
                    " created_at, updated_at) VALUES (1, 'a', 'a', 'a@example.com', 'x', 'user',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            for n, slug in ((1, "first"), (2, "second")):
                await conn.execute(
                    text(
                        "INSERT INTO articles (id, slug, title, description, body, author_id,"
                        " favorites_count, created_at, updated_at) VALUES (:n, :slug, 't', 'd',"
                        " 'b', 1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"n": n, "slug": slug},
                )
        await _migrate(url, "upgrade", "0005")
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT slug, article_id FROM article_slugs ORDER BY slug")
            )
            assert rows.all() == [("first", 1), ("second", 2)]
        await _migrate(url, "downgrade", "0002")
        async with engine.connect() as conn:
            count = await conn.scalar(text("SELECT COUNT(*) FROM articles"))
            assert count == 2
    finally:
        await engine.dispose()
        await _migrate(url, "downgrade", "base")

"""EXPLAIN (ANALYZE, BUFFERS) of the article page statement, per filter, at two offsets.

    python -m bench.explain_pages [--shapes plain,tag] [--offsets 0,10000] [--plans] [--grow N]

Runs the statement the service sends (service/daos/articles.py, compiled as daos/driver.py
sends it) on the seeded bench database, once with PostgreSQL's generic plan (what a prepared
statement gets after five runs) and once with a custom plan, and prints each execution
time and the shared buffers it touched (with --plans, the whole plan). `--grow N` first adds N
articles to each author the reader follows, as a long soak does, in a transaction rolled back
at the end (not vacuumed, as the newest rows of a busy server are not yet).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncpg

from bench.__main__ import database_url, plain_dsn
from service.daos.articles import _page_statements
from service.daos.counters import ARTICLES_BY
from service.daos.driver import compiled


async def _filters(conn: asyncpg.Connection) -> tuple[int, dict[str, dict[str, Any]]]:
    """The reader with the most follows, and a value for each filter with the most matches."""
    reader = await conn.fetchval(
        "SELECT follower_id FROM follows GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    tag = await conn.fetchval("SELECT name_key FROM tags ORDER BY articles_count DESC LIMIT 1")
    author = await conn.fetchval(
        "SELECT u.username_key FROM users u JOIN articles a ON a.author_id = u.id"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    fan = await conn.fetchval(
        "SELECT u.username_key FROM users u JOIN favorites f ON f.user_id = u.id"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    return reader, {
        "plain": {},
        "tag": {"tag_key": tag},
        "author": {"author_key": author},
        "favorited": {"favorited_by_key": fan},
        "feed": {"feed_of": reader},
    }


GROW = """
INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
SELECT 'grown-' || f.followed_id || '-' || n, 'Grown', 'd', 'b', f.followed_id,
       now() - n * interval '1 second', now()
FROM follows f CROSS JOIN generate_series(1, $2::int) AS n WHERE f.follower_id = $1
"""
# and their kept totals, as the app keeps them (where the schema has them: since 0012)
GROW_TOTALS = """
UPDATE counters SET value = value + $2 FROM follows f
WHERE f.follower_id = $1 AND counters.name = $3::text || f.followed_id
"""


async def explain(
    url: str, shapes: list[str], offsets: list[int], plans: bool, grow: int = 0
) -> None:
    conn = await asyncpg.connect(plain_dsn(url))
    transaction = conn.transaction()
    await transaction.start()
    try:
        reader, filters = await _filters(conn)
        if grow:
            await conn.execute(GROW, reader, grow)
            await conn.execute(GROW_TOTALS, reader, grow, ARTICLES_BY)
            await conn.execute("ANALYZE articles")
        for name in shapes:
            params = filters[name]
            page, _ = _page_statements((frozenset(params), True), "postgresql")
            statement = compiled(page)
            for mode in ("force_generic_plan", "force_custom_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                for offset in offsets:
                    values = {**params, "viewer_id": reader, "limit": 20, "offset": offset}
                    rows = await conn.fetch(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, *statement.args(values)
                    )
                    lines = [row[0] for row in rows]
                    buffers = next(line for line in lines if "Buffers:" in line).strip()
                    print(f"== {name} {mode} offset={offset}: {lines[-1].strip()}; {buffers}")
                    if plans:
                        print("\n".join(lines))
    finally:
        await transaction.rollback()
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--shapes", default="plain,tag,author,favorited,feed")
    parser.add_argument("--offsets", default="0,10000")
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--grow", type=int, default=0, help="articles to add per followed author")
    parser.add_argument(
        "--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--dataset", default="large", choices=["small", "large"])
    args = parser.parse_args()
    url = database_url(args.database, args.dataset)
    offsets = [int(offset) for offset in args.offsets.split(",")]
    asyncio.run(explain(url, args.shapes.split(","), offsets, args.plans, args.grow))


if __name__ == "__main__":
    main()

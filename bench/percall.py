"""CPU per call of the hot reads' DAO paths, in-process, on a seeded bench database.

    python -m bench.percall [--calls 400] [--steps] [--writes] [--database URL]

Each read is called N times, each call in a fresh session as a request would have it (a GET's
autocommit session), and the process's CPU time (not wall time: the database's work and the
host's other load stay out of it) is divided by N. Beside each DAO path, the floor: asyncpg's
`fetch` alone for the same statements on one connection. Shared hosts move wall figures by
tens of per cent; CPU per call moves a few. `--writes` also times a create (three tags) and a
favourite with its undo through the services, each in a transaction rolled back.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bench.__main__ import database_url, plain_dsn
from service.daos.articles import ArticleFilter, _page_statements, _view, article_dao
from service.daos.driver import compiled
from service.daos.profiles import profile_dao
from service.daos.refresh_tokens import refresh_token_dao
from service.daos.users import user_dao
from service.jsonio import dumps
from service.models import User
from service.schemas.conduit import article_list_response
from service.services import articles as article_service

Call = Callable[[AsyncSession], Awaitable[Any]]


async def _cpu_per_call(maker: async_sessionmaker[AsyncSession], call: Call, n: int) -> float:
    for _ in range(20):  # warm: statement caches, prepared statements
        async with maker() as session:
            await call(session)
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        async with maker() as session:
            await call(session)
    return (time.process_time() - start) / n * 1e6


async def _raw_per_call(
    conn: asyncpg.Connection, statements: list[tuple[str, list[Any]]], n: int
) -> float:
    for _ in range(20):
        for sql, args in statements:
            await conn.fetch(sql, *args)
    start = time.process_time()
    for _ in range(n):
        for sql, args in statements:
            await conn.fetch(sql, *args)
    return (time.process_time() - start) / n * 1e6


async def _fixtures(conn: asyncpg.Connection) -> dict[str, Any]:
    """Ids and keys to read: a follower with followings, a tag, an article, a family (the
    bench seeds none: one is added, and left for the next run)."""
    follower = await conn.fetchval(
        "SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*) DESC LIMIT 1"
    )
    user = await conn.fetchrow("SELECT id, username_key FROM users WHERE id = $1", follower)
    tag = await conn.fetchval("SELECT name_key FROM tags ORDER BY articles_count DESC LIMIT 1")
    slug = await conn.fetchval("SELECT slug FROM articles ORDER BY id LIMIT 1 OFFSET 100")
    family = await conn.fetchrow(
        "SELECT id, user_id FROM refresh_families WHERE revoked_at IS NULL LIMIT 1"
    )
    if family is None:
        family = await conn.fetchrow(
            "INSERT INTO refresh_families (user_id, auth_time, created_at, expires_at)"
            " VALUES ($1, now(), now(), now() + interval '1 day') RETURNING id, user_id",
            follower,
        )
    return {"user": user, "tag": tag, "slug": slug, "family": family}


async def _writes(
    maker: async_sessionmaker[AsyncSession], fx: dict[str, Any], calls: int
) -> list[tuple[str, float]]:
    """A create and a favourite through the services, each rolled back (the data stays as
    seeded, so every call does the same work)."""
    async with maker() as session:
        author = await session.get(User, fx["user"]["id"])
    assert author is not None

    async def create(session: AsyncSession) -> None:
        tags = ["percall", fx["tag"], "percall-two"]
        await article_service.create(
            session, author, title="Per call", description="d", body="b", tags=tags
        )
        await session.rollback()

    async def favorite(session: AsyncSession) -> None:
        await article_service.favorite(session, author, fx["slug"])
        await article_service.unfavorite(session, author, fx["slug"])
        await session.rollback()

    return [
        ("create article, 3 tags (rolled back)", await _cpu_per_call(maker, create, calls)),
        ("favorite + unfavorite (rolled back)", await _cpu_per_call(maker, favorite, calls)),
    ]


async def measure(url: str, calls: int, steps: bool, writes: bool) -> list[tuple[str, float]]:
    engine = create_async_engine(url, pool_size=2)
    reads = async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        fx = await _fixtures(conn)
        uid, ukey = fx["user"]["id"], fx["user"]["username_key"]
        fid, fuser = fx["family"]["id"], fx["family"]["user_id"]
        cases: list[tuple[str, Call]] = [
            (
                "list (anonymous)",
                lambda s: article_dao.page(s, ArticleFilter(), viewer_id=None, limit=20, offset=0),
            ),
            (
                "list (signed in)",
                lambda s: article_dao.page(s, ArticleFilter(), viewer_id=uid, limit=20, offset=0),
            ),
            (
                "list by tag",
                lambda s: article_dao.page(
                    s, ArticleFilter(tag_key=fx["tag"]), viewer_id=None, limit=20, offset=0
                ),
            ),
            (
                "feed",
                lambda s: article_dao.page(
                    s, ArticleFilter(feed_of=uid), viewer_id=uid, limit=20, offset=0
                ),
            ),
            ("single article", lambda s: article_dao.view(s, slug=fx["slug"], viewer_id=uid)),
            ("profile", lambda s: profile_dao.find(s, ukey, viewer_id=uid)),
            ("user by id (auth)", lambda s: user_dao.get_by_id(s, uid)),
            # What the lookup cost before load_one (daos/queries.py): the ORM's own load.
            ("user by id, the ORM's load (for comparison)", lambda s: s.get(User, uid)),
            (
                "user of live family (auth)",
                lambda s: refresh_token_dao.get_user_of_live_family(s, fid, fuser),
            ),
        ]

        async def list_json(session: AsyncSession) -> bytes:
            views, total = await article_dao.page(
                session, ArticleFilter(), viewer_id=None, limit=20, offset=0
            )
            return dumps(article_list_response(views, total))

        async def deep(session: AsyncSession) -> Any:
            return await article_dao.page(
                session, ArticleFilter(), viewer_id=None, limit=20, offset=10000
            )

        cases += [("list (anonymous) + response JSON", list_json), ("list offset=10000", deep)]
        figures = [(name, await _cpu_per_call(reads, call, calls)) for name, call in cases]

        async def session_only(session: AsyncSession) -> None:
            await session.connection()

        figures.append(
            ("a session and its connection alone", await _cpu_per_call(reads, session_only, calls))
        )
        page = (
            "SELECT a.id, a.slug, a.title, a.description, a.created_at, a.updated_at,"
            " a.favorites_count, u.username, u.bio, u.image, false, false,"
            " (SELECT sum(value) FROM counters WHERE name = 'articles')"
            " FROM articles a JOIN users u ON u.id = a.author_id"
            " ORDER BY a.created_at DESC, a.id DESC LIMIT $1 OFFSET $2"
        )
        ids = [r[0] for r in await conn.fetch(page, 20, 0)]
        tags = (
            "SELECT at.article_id, t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id"
            " WHERE at.article_id = ANY($1::int[])"
        )
        floor = await _raw_per_call(conn, [(page, [20, 0]), (tags, [ids])], calls)
        figures.append(("floor: asyncpg fetch, list's 2 statements", floor))
        one = "SELECT id, username, bio, image FROM users WHERE id = $1"
        figures.append(
            ("floor: asyncpg fetch, 1 small row", await _raw_per_call(conn, [(one, [uid])], calls))
        )
        if steps:
            figures += await _view_steps(conn, calls)
        if writes:
            figures += await _writes(async_sessionmaker(engine, expire_on_commit=False), fx, calls)
    finally:
        await conn.close()
        await engine.dispose()
    return figures


async def _view_steps(conn: asyncpg.Connection, n: int) -> list[tuple[str, float]]:
    """A page's rows into views, the views into the response's dict, the dict into bytes:
    the Python work after the fetch, each step alone."""
    page, _ = _page_statements((frozenset(), False), "postgresql")
    statement = compiled(page)
    rows = await conn.fetch(statement.sql, *statement.args({"limit": 20, "offset": 0}))
    tags = {row[0]: ["a", "b", "c"] for row in rows}

    def timed(step: Callable[[], Any]) -> float:
        start = time.process_time()
        for _ in range(n):
            step()
        return (time.process_time() - start) / n * 1e6

    views = [_view(row, tags[row[0]], with_body=False) for row in rows]
    body = article_list_response(views, 100)
    return [
        (
            "step: 20 rows -> ArticleViews",
            timed(lambda: [_view(row, tags[row[0]], with_body=False) for row in rows]),
        ),
        ("step: views -> response dict", timed(lambda: article_list_response(views, 100))),
        ("step: dict -> JSON bytes (orjson)", timed(lambda: dumps(body))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--steps", action="store_true", help="also time the view steps")
    parser.add_argument("--writes", action="store_true", help="also time a create, a favourite")
    parser.add_argument(
        "--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--dataset", default="large", choices=["small", "large"])
    args = parser.parse_args()
    url = database_url(args.database, args.dataset)
    for name, micros in asyncio.run(measure(url, args.calls, args.steps, args.writes)):
        print(f"{name:<45} {micros:8.0f} µs CPU/call")


if __name__ == "__main__":
    main()

"""db.py: one session per request, committed below 400 and rolled back otherwise."""

from __future__ import annotations

from quart import Quart
from sqlalchemy import func, select

from service import db
from service.errors import Conflict
from service.models import User


def _user(name: str) -> User:
    return User(username=name, username_key=name, email=f"{name}@example.com", password_hash="x")


async def _count(app: Quart) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


async def test_writes_commit_on_success_and_roll_back_on_errors(app: Quart):
    @app.post("/test/write/<int:status>")
    async def write(status: int) -> tuple[dict[str, str], int]:
        session = db.session()
        session.add(_user(f"status{status}"))
        await session.flush()
        return {"ok": "yes"}, status

    @app.post("/test/raise")
    async def write_then_raise() -> dict[str, str]:
        session = db.session()
        session.add(_user("raised"))
        await session.flush()
        raise Conflict("user")

    @app.post("/test/crash")
    async def write_then_crash() -> dict[str, str]:
        session = db.session()
        session.add(_user("crashed"))
        await session.flush()
        raise RuntimeError("boom")

    client = app.test_client()
    assert (await client.post("/test/write/201")).status_code == 201
    assert await _count(app) == 1
    for path, status in [("/test/write/400", 400), ("/test/raise", 409), ("/test/crash", 500)]:
        assert (await client.post(path)).status_code == status
        assert await _count(app) == 1, path


async def test_requests_without_database_use_open_no_session(app: Quart, count_queries):
    response = await app.test_client().get("/healthz")
    assert response.status_code == 200
    assert count_queries.count == 0


async def test_reads_do_not_wait_for_an_open_write_transaction(app: Quart, users):
    """A GET runs beside a writer holding its transaction open: no lock on either database
    (SQLite: reads begin deferred under WAL; PostgreSQL: MVCC, reads in autocommit)."""
    import asyncio

    await users.make(username="reader")
    async with app.extensions["db"].engine.connect() as writer:
        await writer.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock
        await writer.execute(
            User.__table__.insert().values(
                username="pending",
                username_key="pending",
                email="pending@example.com",
                password_hash="x",
                role="user",
            )
        )
        async with asyncio.timeout(5):  # SQLite's busy_timeout is 10 s: a lock would show
            response = await app.test_client().get("/api/profiles/reader")
            assert response.status_code == 200
            articles = await app.test_client().get("/api/articles")
            assert articles.status_code == 200
        await writer.rollback()
    missing = await app.test_client().get("/api/profiles/pending")
    assert missing.status_code == 404

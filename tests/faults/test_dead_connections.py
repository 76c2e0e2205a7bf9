"""Failures under a request, on either database, through the app's HTTP path: a commit that
fails is answered like a failure in the view and leaves nothing behind; a write whose
connection died is answered 503 and not run again; a read runs once more on a fresh
connection. (A commit on a connection PostgreSQL dropped: test_database_faults.py; SQLAlchemy's
aiosqlite adapter skips a commit on a closed connection, so SQLite has no such case to test.)"""

from __future__ import annotations

from quart import Quart
from sqlalchemy import func, select, text

from service import db
from service.models import User
from tests.faults.connections import driver_of, kill
from tests.helpers import error_of


def _user(name: str) -> User:
    return User(username=name, username_key=name, email=f"{name}@example.com", password_hash="x")


async def _count(app: Quart, name: str) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        query = select(func.count()).select_from(User).where(User.username == name)
        return await session.scalar(query) or 0


async def test_a_commit_that_fails_is_answered_like_a_failing_view(app: Quart):
    """A constraint checked only at COMMIT (deferred) fails after the view has returned 201:
    the client gets the same 500 body as for an error in a view, and nothing is stored."""

    @app.post("/test/fails-at-commit")
    async def fails_at_commit() -> tuple[dict[str, str], int]:
        session = db.session()
        await session.execute(
            text(
                "CREATE TABLE commit_checked (id INTEGER PRIMARY KEY, ref INTEGER "
                "REFERENCES commit_checked (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        await session.execute(text("INSERT INTO commit_checked VALUES (1, 2)"))
        session.add(_user("uncommitted"))
        await session.flush()
        return {"written": "uncommitted"}, 201

    @app.post("/test/fails-in-the-view")
    async def fails_in_the_view() -> dict[str, str]:
        raise RuntimeError("a bug")

    client = app.test_client()
    at_commit = await client.post("/test/fails-at-commit", headers={"X-Request-ID": "rid-c"})
    in_view = await client.post("/test/fails-in-the-view", headers={"X-Request-ID": "rid-v"})
    assert await error_of(at_commit, 500) == {"server": ["internal error; quote request id rid-c"]}
    assert await error_of(in_view, 500) == {"server": ["internal error; quote request id rid-v"]}
    assert await _count(app, "uncommitted") == 0
    async with app.extensions["db"].engine.connect() as conn:  # the table went with it
        assert not await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "commit_checked"))


async def test_a_write_whose_connection_died_is_not_run_again(app: Quart, settings):
    attempts: list[int] = []

    @app.post("/test/lose-the-connection-then-write")
    async def write() -> tuple[dict[str, str], int]:
        attempts.append(1)
        session = db.session()
        await session.execute(text("SELECT 1"))
        await kill(settings, await driver_of(session))
        session.add(_user("twice"))
        await session.flush()
        return {"written": "twice"}, 201

    response = await app.test_client().post("/test/lose-the-connection-then-write")
    assert await error_of(response, 503)
    assert attempts == [1]
    assert await _count(app, "twice") == 0


async def test_a_read_whose_connection_died_runs_once_more_on_a_fresh_one(app: Quart, settings):
    deaths = [0]  # how many of the next attempts lose their connection
    attempts = [0]

    @app.get("/test/read-on-a-dying-connection")
    async def read() -> dict[str, int]:
        attempts[0] += 1
        session = db.session()
        if deaths[0]:
            deaths[0] -= 1
            await session.execute(text("SELECT 1"))
            await kill(settings, await driver_of(session))
        return {"one": await session.scalar(text("SELECT 1")) or 0}

    client = app.test_client()
    for dying, status, tries in [(1, 200, 2), (2, 503, 2), (0, 200, 1)]:
        deaths[0], attempts[0] = dying, 0
        response = await client.get("/test/read-on-a-dying-connection")
        assert response.status_code == status, (dying, await response.get_data(as_text=True))
        assert attempts[0] == tries, dying
        if status == 200:
            assert await response.get_json() == {"one": 1}

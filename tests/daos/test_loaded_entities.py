"""`load_one` (daos/queries.py): the caller's user built from one row of the hot-read path,
in the session as the ORM would have loaded it. Every signed-in request makes this lookup."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from service.daos import driver
from service.daos.refresh_tokens import refresh_token_dao
from service.daos.users import user_dao
from service.models import User


def _columns(user: User) -> dict[str, Any]:
    return {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs}


async def test_the_loaded_user_is_the_one_the_orm_loads(app, users):
    made = await users.make(bio="hello", image="https://img.example/a.png")
    database = app.extensions["db"]
    for maker in (database.read_sessionmaker, database.sessionmaker):
        async with maker() as session:
            expected = _columns(await session.get(User, made.id))
        async with maker() as session:
            loaded = await user_dao.get_by_id(session, made.id)
            assert loaded is not None
            assert _columns(loaded) == expected
            state = inspect(loaded)
            assert state.persistent
            assert not state.modified
            assert loaded not in session.dirty
            # The session's one object for the row, as a query returns it.
            assert await session.get(User, made.id) is loaded
            assert await user_dao.get_by_id(session, made.id) is loaded
            assert await user_dao.get_by_id(session, made.id + 1000) is None


async def test_changes_to_the_loaded_user_are_saved(app, users):
    made = await users.make(bio="before")
    database = app.extensions["db"]
    async with database.sessionmaker() as session:
        loaded = await user_dao.get_by_id(session, made.id)
        assert loaded is not None
        loaded.bio = "after"
        await session.commit()
    async with database.sessionmaker() as session:
        saved = await session.get(User, made.id)
        assert saved is not None
        assert saved.bio == "after"
        # onupdate ran: a real ORM UPDATE (SQLite gives back naive UTC)
        assert saved.updated_at.replace(tzinfo=None) > made.user.updated_at.replace(tzinfo=None)


async def test_the_user_of_a_live_family_only(app, users):
    from service.services import refresh_tokens

    made = await users.make()
    database = app.extensions["db"]
    async with database.sessionmaker() as session:
        issued = await refresh_tokens.start(
            session, made.user, ttl_seconds=3600, max_age_seconds=3600
        )
        await session.commit()
    family = issued.family_id
    async with database.read_sessionmaker() as session:
        loaded = await refresh_token_dao.get_user_of_live_family(session, family, made.id)
        assert loaded is not None
        assert _columns(loaded)["email"] == made.email
        assert await refresh_token_dao.get_user_of_live_family(session, family, made.id + 1) is None


async def test_a_signed_in_read_loads_its_user_on_the_driver_path(app, client, users, monkeypatch):
    """On PostgreSQL the token's user comes from the session's asyncpg connection, not through
    the ORM's execution; on SQLite through SQLAlchemy (the portable path)."""
    made = await users.make()
    sent: list[str] = []
    real = driver.fetch

    async def spy(connection: Any, raw: Any, statement: Any, params: dict[str, Any]) -> Any:
        sent.append(statement.sql)
        return await real(connection, raw, statement, params)

    monkeypatch.setattr("service.daos.queries.fetch", spy)
    response = await client.get("/api/user", headers=made.headers)
    assert response.status_code == 200
    on_postgres = not app.extensions["db"].settings.is_sqlite
    assert any("FROM users" in sql for sql in sent) is on_postgres


@pytest.mark.parametrize("missing", [0, -1, 2**31])
async def test_ids_no_row_can_have(app, missing):
    async with app.extensions["db"].read_sessionmaker() as session:
        assert await user_dao.get_by_id(session, missing) is None

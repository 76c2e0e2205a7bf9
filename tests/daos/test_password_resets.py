"""Consuming a reset token is one conditional UPDATE: of two transactions racing for one token
the second waits for the first and then finds it used, on PostgreSQL (row lock, condition
checked again) as on SQLite (one writer)."""

from __future__ import annotations

import asyncio

from service.daos.password_resets import password_reset_dao
from service.models.base import utcnow
from service.services.password_resets import token_hash
from tests.signin.reset_helpers import issue_token


async def test_two_transactions_consuming_one_token_exactly_one_wins(app, users):
    jake = await users.make()
    digest = token_hash(await issue_token(app, jake.id))
    maker = app.extensions["db"].sessionmaker
    async with maker() as first, maker() as second:
        assert await password_reset_dao.consume(first, digest, utcnow()) == jake.id
        racing = asyncio.create_task(password_reset_dao.consume(second, digest, utcnow()))
        await asyncio.sleep(0.3)
        assert not racing.done()  # held by the first transaction's row (or write lock)
        await first.commit()
        assert await asyncio.wait_for(racing, 10) is None
        await second.rollback()
    async with maker() as session:
        assert await password_reset_dao.get_live_user_id(session, digest, utcnow()) is None


async def test_a_rolled_back_consume_leaves_the_token_live(app, users):
    jake = await users.make()
    digest = token_hash(await issue_token(app, jake.id))
    maker = app.extensions["db"].sessionmaker
    async with maker() as session:
        assert await password_reset_dao.consume(session, digest, utcnow()) == jake.id
        await session.rollback()  # a confirm that failed later (a deadline, a crash)
    async with maker() as session:
        assert await password_reset_dao.consume(session, digest, utcnow()) == jake.id
        await session.commit()

"""Idempotency-Key across processes: the production launcher with two workers, many concurrent
requests with one key, exactly one resource. What decides is the table's primary key, so it
holds across workers and instances alike; nothing is locked in process memory.

Which retries meet the first request running (409) and which find it answered (a replay) is
up to the host's timing; every mix must give one resource and one answer.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from service.models import Article, IdempotencyKey, User
from tests.conftest import empty_tables
from tests.live import live_server
from tests.serving.launcher import LAUNCHER, ready_pids

KEY = "Idempotency-Key"
CONCURRENT = 30


@pytest.fixture
def server_env(settings):
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "WEB_CONCURRENCY": "2",
        # The test's own budget: a busy host neither sheds nor cuts these requests.
        "HASH_QUEUE_SECONDS": "600",
        "REQUEST_TIMEOUT_SECONDS": "600",
        "DB_STATEMENT_TIMEOUT_MS": "600000",
    }


def one_answer(answers: list[httpx.Response]) -> httpx.Response:
    """Every answer is the first one (replayed or not) or a 409 "in progress"; the first one."""
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    created = [a for a in answers if a.status_code == 201]
    assert created, [a.text for a in answers]
    assert len({a.content for a in created}) == 1
    originals = [a for a in created if "Idempotent-Replayed" not in a.headers]
    assert len(originals) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.json() == {
            "errors": {KEY: ["is in use by a request still in progress, try again later"]}
        }
        assert busy.headers["Retry-After"] == "1"
    return originals[0]


async def burst(http: httpx.AsyncClient, path: str, body: object, headers: dict[str, str]):
    return list(
        await asyncio.gather(
            *(http.post(path, json=body, headers=headers) for _ in range(CONCURRENT))
        )
    )


async def count(engine, model, *where) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar()


async def test_concurrent_retries_on_two_workers_make_exactly_one_resource(
    tmp_path, server_env, engine
):
    try:
        with live_server(tmp_path, server_env, LAUNCHER) as server:
            ready_pids(server, 2)
            limits = httpx.Limits(max_connections=CONCURRENT)
            async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
                user = {"username": "once", "email": "once@example.com", "password": "pw-once-12"}
                registered = one_answer(
                    await burst(http, "/api/users", {"user": user}, {KEY: "signup"})
                )
                token = registered.json()["user"]["token"]
                auth = {"Authorization": f"Token {token}", KEY: "publish"}
                article = {"article": {"title": "Once", "description": "d", "body": "b"}}
                published = one_answer(await burst(http, "/api/articles", article, auth))

                # Later retries are replays of the same answers.
                again = await http.post("/api/articles", json=article, headers=auth)
                assert again.status_code == 201
                assert again.headers["Idempotent-Replayed"] == "true"
                assert again.content == published.content
                listed = await http.get("/api/articles", params={"author": "once"})
                assert listed.json()["articlesCount"] == 1
            assert await count(engine, User, User.username_key == "once") == 1
            assert await count(engine, Article) == 1
            assert await count(engine, IdempotencyKey, IdempotencyKey.response_status == 201) == 2
    finally:
        await empty_tables(engine)

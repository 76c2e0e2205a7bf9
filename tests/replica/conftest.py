"""A streaming pair for the read-replica tests, made once for this folder (tests/replication.py:
a private primary and its hot standby, since the shared PostgreSQL allows no replication
connections), migrated on the primary and replayed on the standby; and apps that read from it.

Streaming replication is PostgreSQL's, so this folder is collected where the test database is
PostgreSQL (as tests/scaleout is); on SQLite it is left out. The PostgreSQL run needs the
server's binaries (initdb, pg_ctl, pg_basebackup): scripts/system-deps --strict requires them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as redis
from quart import Quart
from sqlalchemy import event

from service import create_app
from service.config import Settings, load_config
from service.db import Database, create_engine
from tests.conftest import empty_tables
from tests.replication import Pair

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
collect_ignore = [] if ON_POSTGRES else ["test_read_replica.py"]

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")


@pytest.fixture(scope="package")
def pair(replication_pair: Pair) -> Pair:
    """The run's pair (tests/conftest.py, shared with tests/scaleout), restored for this
    folder; `replica_app` restores it and empties its tables after each test."""
    replication_pair.restore()
    return replication_pair


def replica_settings(pair: Pair, **overrides: Any) -> Settings:
    """Testing settings reading from the pair: its primary and replica, unless overridden."""
    urls = {"database_url": pair.primary_url, "database_read_url": pair.replica_url}
    return load_config("testing", **{**urls, **overrides})


@pytest.fixture
async def replica_app(pair: Pair) -> AsyncIterator[Callable[..., Any]]:
    """Builds apps on the pair (primary and replica URLs, plus the test's settings), served
    until the test ends; then the standby streams and replays again and every row is gone."""
    contexts: list[Any] = []

    async def build(**overrides: Any) -> Quart:
        app = create_app(replica_settings(pair, **overrides))
        context = app.test_app()
        await context.__aenter__()
        contexts.append(context)
        return app

    try:
        yield build
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)
        if pair.replica_stopped():
            pair.start_replica()
        pair.resume_replay()
        engine = create_engine(load_config("testing", database_url=pair.primary_url))
        try:
            await empty_tables(engine)
        finally:
            await engine.dispose()
        pair.wait_replayed()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of the test's own (read-your-writes marks), its keys removed after."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.from_url(REDIS_TEST_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class EngineStatements:
    """Counts the statements an app's requests run on its primary and on its replica."""

    def __init__(self, app: Quart) -> None:
        database: Database = app.extensions["db"]
        self.engines = {"primary": database.engine, "replica": database.replica_engine}
        self.counts = {"primary": 0, "replica": 0}
        for name, engine in self.engines.items():
            event.listen(engine.sync_engine, "before_cursor_execute", self._counter(name))

    def _counter(self, name: str) -> Callable[..., None]:
        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # Not the monitor's checks, nor the SET LOCAL that opens every transaction behind
            # PgBouncer (the monitor's included).
            if "pg_lsn" not in statement and not statement.startswith("SET LOCAL"):
                self.counts[name] += 1

        return count

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float = 20.0
) -> float:
    """Seconds until `check()` holds, polled while the app's own tasks (the replica monitor)
    run; fails past `within` seconds, which is the test's, not the host's pace."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            pytest.fail(f"no {what} within {within:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start

"""The scaled-out shape, started once for the module: PostgreSQL behind PgBouncer (transaction
pooling, tests/pgbouncer.py), Redis behind the fault proxy (so a test can take it away), two
launchers with two workers each reaching the database only through PgBouncer, and nginx in
front of them (tests/balancer.py).

PgBouncer speaks to PostgreSQL only, so this folder is collected where the test database is
PostgreSQL (as tests/faults/test_database_faults.py is); on SQLite it is left out.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis.asyncio as redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from tests.balancer import nginx
from tests.conftest import empty_tables
from tests.faults.proxy import FaultProxy, fault_proxy
from tests.live import BIN, Live, live_servers
from tests.pgbouncer import Pooler, pgbouncer
from tests.serving.launcher import ready_pids

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
collect_ignore = [] if ON_POSTGRES else ["test_scale_out.py"]

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")
LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]
WORKERS = 2
POOL_SIZE = 3  # per worker: 2 instances x 2 workers x 3 = 12 connections to PgBouncer ...
SERVER_CONNECTIONS = 4  # ... sharing PgBouncer's 4 connections to PostgreSQL
STATEMENT_TIMEOUT = 1.0
DEADLINE = 5.0
LOGIN_LIMIT = 3  # failed logins per (account, address) per window
REGISTER_LIMIT = 3  # registrations per address per window
TAGS_CACHE = 1.0


@dataclass
class Cluster:
    a: Live
    b: Live
    url: str  # nginx
    pooler: Pooler
    redis: FaultProxy
    prefix: str


@pytest.fixture(scope="module")
def redis_proxy() -> Iterator[FaultProxy]:
    url = make_url(REDIS_TEST_URL)
    with fault_proxy(url.host or "127.0.0.1", url.port or 6379) as running:
        yield running


@pytest.fixture(scope="module")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    engine: AsyncEngine,
    redis_proxy: FaultProxy,
) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    prefix = f"test:{uuid.uuid4().hex}:"
    database = make_url(REDIS_TEST_URL).database or "0"
    try:
        with pgbouncer(tmp / "pgbouncer", settings.database_url, SERVER_CONNECTIONS) as pooler:
            env = {
                "APP_ENV": "testing",
                "DATABASE_URL": pooler.url(settings.database_url),
                "DATABASE_POOLER": "pgbouncer",
                "WEB_CONCURRENCY": str(WORKERS),
                "DB_POOL_SIZE": str(POOL_SIZE),
                "DB_MAX_OVERFLOW": "0",
                "DB_STATEMENT_TIMEOUT_MS": str(int(STATEMENT_TIMEOUT * 1000)),
                "REQUEST_TIMEOUT_SECONDS": str(DEADLINE),
                "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/{database}",
                "RATE_LIMIT_KEY_PREFIX": prefix,
                "LOGIN_RATE_LIMIT_PER_ACCOUNT_ADDRESS": str(LOGIN_LIMIT),
                "REGISTER_RATE_LIMIT_PER_ADDRESS": str(REGISTER_LIMIT),
                "TAGS_CACHE_SECONDS": str(TAGS_CACHE),
                "TRUSTED_PROXY_HOPS": "1",
                "LOG_JSON": "true",
            }
            with live_servers(tmp, env, LAUNCHER, ["a", "b"]) as (a, b):
                for server in (a, b):  # every worker, not only the first to answer
                    ready_pids(server, WORKERS)
                with nginx(tmp, a.port, b.port) as url:
                    yield Cluster(a, b, url, pooler, redis_proxy, prefix)
    finally:
        await empty_tables(engine)
        client = redis.from_url(REDIS_TEST_URL)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

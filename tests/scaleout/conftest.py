"""The scaled-out shape, started once for the folder (its modules share it, so each test
makes its own users and addresses): PostgreSQL behind PgBouncer (transaction pooling,
tests/pgbouncer.py), Redis behind the fault proxy (so a test can take it away, and must give
it back), two launchers with two workers each reaching the database only through PgBouncer,
and nginx in front of them (tests/balancer.py).

The databases are a fixture of their own (`databases`): the primary PgBouncer pools for the
service, and an optional read URL handed to the instances through a second PgBouncer entry.

PgBouncer speaks to PostgreSQL only, so this folder is collected where the test database is
PostgreSQL (as tests/faults/test_database_faults.py is); on SQLite it is left out.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.balancer import nginx
from tests.conftest import empty_tables
from tests.faults.proxy import FaultProxy, fault_proxy
from tests.live import BIN, Live, live_servers
from tests.pgbouncer import Pooler, pgbouncer
from tests.replication import Pair
from tests.serving.launcher import ready_pids

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
collect_ignore = [] if ON_POSTGRES else ["test_scale_out.py", "test_load.py"]

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")
LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]
INSTANCES = 2
WORKERS = 2
POOL_SIZE = 3  # per worker: 2 instances x 2 workers x 3 = 12 connections to PgBouncer ...
SERVER_CONNECTIONS = 4  # ... sharing PgBouncer's 4 connections to PostgreSQL
STATEMENT_TIMEOUT = 1.0
# Admission lets a pool's worth of requests per worker into the database (12 at once); the
# load test's 200 clients queue behind them in arrival order. If the stack served only 10
# requests/s on a busy host (60/s measured), the last in line would wait 200 / 10 = 20 s: the
# deadline is above that, so the load queues rather than being shed. nginx's read timeout
# (60 s) and the clients' are above the deadline, so a late answer is the app's 503.
DEADLINE = 30.0
# A hash may queue as long as its request may wait (200 registrations can arrive together,
# and the hashing threads run at a lower priority on a shared host).
HASH_QUEUE = DEADLINE
LOGIN_LIMIT = 3  # failed logins per (account, address) per window
REGISTER_LIMIT = 3  # registrations per address per window
TAGS_CACHE = 1.0
# Six processes starting at once on a shared two-core host: the folder's set-up took 51 to
# 68 s at load 11 to 14 (once past the 60 s allowed before), about 20 s when it is quiet.
STARTUP = 180.0


@dataclass(frozen=True)
class Databases:
    """Where the stack's data lives: `primary`, which PgBouncer pools for the service (and the
    tests read and lock directly), and `read`, a streaming replica's URL, or None."""

    primary: str
    read: str | None = None


@dataclass
class Cluster:
    a: Live
    b: Live
    url: str  # nginx
    pooler: Pooler
    redis: FaultProxy
    prefix: str
    databases: Databases
    primary: AsyncEngine  # straight to the primary, not through PgBouncer
    tmp: Path  # the stack's configuration files and logs (nginx-error.log, ...)

    def server_connections(self) -> Counter[str]:
        """PgBouncer's connections to PostgreSQL right now, by database."""
        return Counter(row["database"] for row in self.pooler.show("SERVERS"))

    def service_connections(self) -> int:
        """The service's connections to PgBouncer right now (not the console's)."""
        return sum(row.get("database") != "pgbouncer" for row in self.pooler.show("CLIENTS"))


@pytest.fixture(scope="package")
def databases(replication_pair: Pair) -> Databases:
    """A private primary and its streaming standby (tests/replication.py: the shared
    PostgreSQL takes no replication connections), migrated: the run's pair, shared with
    tests/replica (tests/conftest.py), restored (standby running and caught up). The stack
    pools both, and hands the standby to the instances as DATABASE_READ_URL; `primary`
    empties the tables after the folder."""
    replication_pair.restore()
    return Databases(replication_pair.primary_url, replication_pair.replica_url)


@pytest.fixture(scope="package")
async def primary(databases: Databases) -> AsyncIterator[AsyncEngine]:
    """The primary, directly: a test's own locks and the load test's counts; emptied after."""
    engine = create_async_engine(databases.primary, poolclass=NullPool)
    try:
        yield engine
    finally:
        await empty_tables(engine)
        await engine.dispose()


@pytest.fixture(scope="package")
def redis_proxy() -> Iterator[FaultProxy]:
    url = make_url(REDIS_TEST_URL)
    with fault_proxy(url.host or "127.0.0.1", url.port or 6379) as running:
        yield running


@pytest.fixture(scope="package")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    databases: Databases,
    primary: AsyncEngine,
    redis_proxy: FaultProxy,
) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    prefix = f"test:{uuid.uuid4().hex}:"
    database = make_url(REDIS_TEST_URL).database or "0"
    # The replica, when there is one, is pooled under a name of its own beside the primary.
    read_entry = f"{make_url(databases.primary).database}_read"
    more = {read_entry: databases.read} if databases.read else {}
    try:
        with pgbouncer(tmp / "pgbouncer", databases.primary, SERVER_CONNECTIONS, more) as pooler:
            env = {
                "APP_ENV": "testing",
                "DATABASE_URL": pooler.url(databases.primary),
                "DATABASE_POOLER": "pgbouncer",
                "WEB_CONCURRENCY": str(WORKERS),
                "DB_POOL_SIZE": str(POOL_SIZE),
                "DB_MAX_OVERFLOW": "0",
                "DB_STATEMENT_TIMEOUT_MS": str(int(STATEMENT_TIMEOUT * 1000)),
                "REQUEST_TIMEOUT_SECONDS": str(DEADLINE),
                "HASH_QUEUE_SECONDS": str(HASH_QUEUE),
                "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/{database}",
                "RATE_LIMIT_KEY_PREFIX": prefix,
                "LOGIN_RATE_LIMIT_PER_ACCOUNT_ADDRESS": str(LOGIN_LIMIT),
                "REGISTER_RATE_LIMIT_PER_ADDRESS": str(REGISTER_LIMIT),
                "TAGS_CACHE_SECONDS": str(TAGS_CACHE),
                "TRUSTED_PROXY_HOPS": "1",
                "LOG_JSON": "true",
            }
            if databases.read:
                env["DATABASE_READ_URL"] = pooler.url(databases.read, read_entry)
            with live_servers(tmp, env, LAUNCHER, ["a", "b"], STARTUP) as (a, b):
                for server in (a, b):  # every worker, not only the first to answer
                    ready_pids(server, WORKERS, STARTUP)
                with nginx(tmp, a.port, b.port) as url:
                    yield Cluster(a, b, url, pooler, redis_proxy, prefix, databases, primary, tmp)
    finally:
        client = redis.from_url(REDIS_TEST_URL)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

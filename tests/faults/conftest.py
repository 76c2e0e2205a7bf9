"""Fixtures for fault tests: the fault proxy in front of the test database, and a live launcher
(two workers) that reaches the database only through it.

Each test sets its own short timeouts, so it takes seconds and does not depend on an idle
host: a 3 s request deadline, a 1 s pool/connect timeout, statements cut at 2 s.

The proxy speaks TCP, so the network faults (test_database_faults.py) are collected where the
test database is PostgreSQL; what applies to SQLite too (a connection dead at commit or at a
read, logs) is in the other modules, which run on both.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.models import User
from tests.conftest import empty_tables
from tests.faults.proxy import FaultProxy, fault_proxy
from tests.live import BIN, Live, live_server
from tests.serving.launcher import ready_pids

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
collect_ignore = [] if ON_POSTGRES else ["test_database_faults.py"]

LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]
DEADLINE = 3.0
POOL_TIMEOUT = 1.0
READY_TIMEOUT = 2.0  # service/routes/ops.py
# Slack for a busy two-core host between the server deciding and the client reading the answer.
SLACK = 0.5
FAULT_ENV = {
    "APP_ENV": "testing",
    "WEB_CONCURRENCY": "2",
    "REQUEST_TIMEOUT_SECONDS": str(DEADLINE),
    "DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
    "DB_STATEMENT_TIMEOUT_MS": "2000",
    "DB_POOL_SIZE": "4",
    "DB_MAX_OVERFLOW": "0",
    "LOG_JSON": "true",
}


@pytest.fixture(scope="module")
def proxy(settings: Settings) -> Iterator[FaultProxy]:
    url = make_url(settings.database_url)
    with fault_proxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture(scope="module")
def proxied_url(settings: Settings, proxy: FaultProxy) -> str:
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, engine: AsyncEngine, proxied_url: str
) -> AsyncIterator[Live]:
    """One launcher for the module's tests: each test also checks it recovers without a
    restart, so the next one starts from a healthy server."""
    tmp_path = tmp_path_factory.mktemp("faults")
    try:
        with live_server(tmp_path, {**FAULT_ENV, "DATABASE_URL": proxied_url}, LAUNCHER) as live:
            # Every worker serving before a test marks the log: a late one's start-up lines
            # would land among the lines a test reads (one worker answers /healthz first).
            ready_pids(live, int(FAULT_ENV["WEB_CONCURRENCY"]))
            yield live
    finally:
        await empty_tables(engine)


@pytest.fixture
def healthy(proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The proxy forwarding when a test starts and when it ends, whatever the test did."""
    proxy.restore()
    yield proxy
    proxy.restore()


@dataclass
class Outcome:
    """One request as the client saw it."""

    method: str
    path: str
    seconds: float
    status: int | None = None
    body: dict[str, object] = field(default_factory=dict)
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    failure: str | None = None
    username: str | None = None


async def call(http: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> Outcome:
    started = time.monotonic()
    try:
        response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        return Outcome(method, path, time.monotonic() - started, failure=repr(exc))
    try:
        body = response.json()
    except ValueError:
        body = {"raw": response.text}
    return Outcome(
        method, path, time.monotonic() - started, response.status_code, body, response.headers
    )


async def register(http: httpx.AsyncClient, tag: str) -> Outcome:
    """A write: a new account. Acknowledged only by a 201."""
    name = f"{tag}-{uuid.uuid4().hex[:10]}"
    user = {"username": name, "email": f"{name}@example.com", "password": "pw-faults-1"}
    outcome = await call(http, "POST", "/api/users", json={"user": user})
    outcome.username = name
    return outcome


async def stored_usernames(engine: AsyncEngine, names: list[str]) -> set[str]:
    """Which of these accounts the database holds, read past the proxy."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(User.username).where(User.username.in_(names)))
        return set(rows.scalars())


async def assert_writes_honest(engine: AsyncEngine, writes: list[Outcome]) -> None:
    """Every acknowledged write is stored and no unacknowledged one is."""
    names = [w.username for w in writes if w.username]
    stored = await stored_usernames(engine, names)  # type: ignore[arg-type]
    acknowledged = {w.username for w in writes if w.status == 201}
    assert acknowledged <= stored, ("acknowledged but missing", acknowledged - stored)
    assert not (stored - acknowledged), ("stored but not acknowledged", stored - acknowledged)


def assert_unavailable(outcome: Outcome) -> None:
    """503, Retry-After, the contract's shape, the request id quoted."""
    assert outcome.status == 503, outcome
    assert int(outcome.headers["Retry-After"]) >= 1, outcome
    request_id = outcome.headers["X-Request-ID"]
    assert outcome.body == {
        "errors": {"service": [f"unavailable, try again later; quote request id {request_id}"]}
    }, outcome


async def wait_until_ready(http: httpx.AsyncClient, within: float) -> float:
    """Seconds until /readyz answers 200 (it must within `within`)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        outcome = await call(http, "GET", "/readyz")
        if outcome.status == 200:
            return time.monotonic() - started
    raise AssertionError(f"/readyz not 200 within {within}s")


def log_lines(server: Live, since: int) -> list[str]:
    return server.output()[since:].splitlines()


def log_mark(server: Live) -> int:
    return len(server.output())


def tmp_log(path: Path) -> str:
    return path.read_text(errors="replace")

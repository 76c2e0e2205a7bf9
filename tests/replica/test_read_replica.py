"""Reads from a real streaming replica, through HTTP (the app's test client, served with both
DATABASE_URL and DATABASE_READ_URL): where reads go, read-your-writes, a replica that stops or
falls behind, and Redis-shared marks.

Which database answered a request is seen two ways: by the data (with replay paused, the
replica lacks the latest writes) and by the statements each of the app's engines ran.
Deadlines are the tests' own; figures they print (-s) are what the README quotes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from quart import Quart

from service import create_app
from service.read_routing import MARK_PREFIX
from tests.factories import MadeUser, UserFactory
from tests.live import free_port
from tests.pgbouncer import pgbouncer
from tests.replica.conftest import (
    REDIS_TEST_URL,
    EngineStatements,
    eventually,
    replica_settings,
)
from tests.replication import Pair
from tests.signin.helpers import cookie_header, sign_in

# Long enough that nothing times out while a test looks: the tests of the bound and the
# window set short ones.
STEADY = {
    "replica_check_seconds": 0.1,
    "replica_max_lag_seconds": 60.0,
    "read_your_writes_seconds": 60.0,
}


def article_body(title: str) -> dict[str, Any]:
    return {"article": {"title": title, "description": "d", "body": "b", "tagList": []}}


async def write_article(client: Any, headers: dict[str, str], title: str) -> str:
    response = await client.post("/api/articles", json=article_body(title), headers=headers)
    assert response.status_code == 201, await response.get_json()
    slug: str = (await response.get_json())["article"]["slug"]
    return slug


async def read(
    app: Quart, statements: EngineStatements, path: str, headers: dict[str, str] | None = None
) -> tuple[int, set[str]]:
    """GET `path`: its status, and which engines ran its statements."""
    before = statements.snapshot()
    response = await app.test_client().get(path, headers=headers or {})
    used = {name for name, count in statements.snapshot().items() if count > before[name]}
    return response.status_code, used


async def readyz(app: Quart) -> dict[str, str]:
    response = await app.test_client().get("/readyz")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, str] = await response.get_json()
    return body


async def two_users(app: Quart, pair: Pair) -> tuple[MadeUser, MadeUser]:
    """Made straight in the primary (no write request, so no read-your-writes mark), then
    replayed (when the replica runs): both exist on the replica."""
    users = UserFactory(app)
    made = await users.make(), await users.make()
    if not pair.replica_stopped():
        pair.wait_replayed()
    return made


async def test_reads_come_from_the_replica_and_a_writer_reads_its_own_writes(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    app = await replica_app(**STEADY)
    statements = EngineStatements(app)
    a, b = await two_users(app, pair)
    assert (await readyz(app))["replica"] == "ok"

    pair.pause_replay()
    slug = await write_article(app.test_client(), a.headers, "Only on the primary")

    # Another caller, and an anonymous one, read the replica: the article is not there yet.
    assert await read(app, statements, f"/api/articles/{slug}", b.headers) == (404, {"replica"})
    assert await read(app, statements, f"/api/articles/{slug}") == (404, {"replica"})
    head = await app.test_client().head(f"/api/articles/{slug}")
    assert head.status_code == 404
    # The writer reads its own write, from the primary.
    assert await read(app, statements, f"/api/articles/{slug}", a.headers) == (200, {"primary"})

    pair.resume_replay()
    pair.wait_replayed()
    assert await read(app, statements, f"/api/articles/{slug}", b.headers) == (200, {"replica"})


async def test_a_new_account_reads_itself_at_once(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    """Registration hands out a token: the next reads with it are the new account's own."""
    app = await replica_app(**STEADY)
    statements = EngineStatements(app)
    client = app.test_client()
    pair.pause_replay()  # nothing this test writes reaches the replica

    new = {"username": "fresh", "email": "fresh@example.com", "password": "a fine password"}
    registered = await client.post("/api/users", json={"user": new})
    assert registered.status_code == 201
    headers = {"Authorization": f"Token {(await registered.get_json())['user']['token']}"}
    # On the replica the account does not exist yet (the token would be refused, 401).
    assert await read(app, statements, "/api/user", headers) == (200, {"primary"})

    logged_in = await client.post(
        "/api/users/login", json={"user": {"email": new["email"], "password": new["password"]}}
    )
    assert logged_in.status_code == 200
    family_token = (await logged_in.get_json())["user"]["token"]  # of a refresh-token family
    family_headers = {"Authorization": f"Token {family_token}"}
    assert await read(app, statements, "/api/user", family_headers) == (200, {"primary"})

    slug = await write_article(client, headers, "Mine at once")
    assert await read(app, statements, f"/api/articles/{slug}", headers) == (200, {"primary"})
    # Anyone else still reads the replica.
    assert await read(app, statements, f"/api/articles/{slug}") == (404, {"replica"})


async def test_a_browser_that_signs_in_reads_its_new_session(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    """The session row that signs a browser in is new on the primary: the browser's next
    page must find it (on the replica it would be signed out at once)."""
    app = await replica_app(**STEADY)
    statements = EngineStatements(app)
    a, _ = await two_users(app, pair)
    browser = app.test_client()
    pair.pause_replay()
    await sign_in(browser, a.email, a.password)  # asserts the account page shows the session
    before = statements.snapshot()
    page = await browser.get("/account")
    assert page.status_code == 200
    assert statements.snapshot()["replica"] == before["replica"]


async def test_reads_return_to_the_replica_after_the_window(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    window = 1.5
    app = await replica_app(
        replica_check_seconds=0.1, replica_max_lag_seconds=window, read_your_writes_seconds=window
    )
    statements = EngineStatements(app)
    a, _ = await two_users(app, pair)
    slug = await write_article(app.test_client(), a.headers, "Window")
    wrote = time.monotonic()
    path = f"/api/articles/{slug}"
    assert await read(app, statements, path, a.headers) == (200, {"primary"})

    async def on_replica() -> bool:
        return await read(app, statements, path, a.headers) == (200, {"replica"})

    waited = await eventually(on_replica, "read back on the replica", within=window + 20)
    # The mark is set just before the answer leaves: the first replica read is a window later
    # (less the moments between the mark and the answer, which a busy host only lengthens).
    assert time.monotonic() - wrote >= window - 0.3, waited
    print(f"\nwriter back on the replica {time.monotonic() - wrote:.2f} s after its write")


async def test_a_stopped_replica_sends_reads_to_the_primary_until_it_is_back(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    app = await replica_app(**STEADY)
    statements = EngineStatements(app)
    _, b = await two_users(app, pair)
    assert await read(app, statements, "/api/user", b.headers) == (200, {"replica"})

    pair.stop_replica()

    async def down() -> bool:
        return (await readyz(app)).get("replica") == "down"

    # /readyz asks the replica nothing: the monitor found it gone.
    detected = await eventually(down, "replica reported down")
    assert await read(app, statements, "/api/user", b.headers) == (200, {"primary"})
    metrics = await (await app.test_client().get("/metrics")).get_data(as_text=True)
    assert 'db_replica_state{state="down"} 1.0' in metrics

    pair.start_replica()
    started = time.monotonic()

    async def back() -> bool:
        return (await readyz(app)).get("replica") == "ok"

    await eventually(back, "replica back to ok")
    returned = time.monotonic() - started
    assert await read(app, statements, "/api/user", b.headers) == (200, {"replica"})
    print(
        f"\nreplica stopped: down after {detected:.2f} s (checks every 0.1 s); started: ok "
        f"{returned:.2f} s after pg_ctl start returned"
    )


async def test_a_read_that_finds_the_replica_gone_is_answered_by_the_primary(
    replica_app: Callable[..., Any], pair: Pair, caplog: Any
) -> None:
    """No check runs meanwhile (their interval is long): the read itself finds the replica
    gone, runs again on the primary in the same request, and marks the replica down."""
    app = await replica_app(
        replica_check_seconds=60, replica_max_lag_seconds=120, read_your_writes_seconds=120
    )
    statements = EngineStatements(app)
    _, b = await two_users(app, pair)
    assert await read(app, statements, "/api/user", b.headers) == (200, {"replica"})
    pair.stop_replica()
    logger = logging.getLogger("service.read_routing")  # the app's loggers do not propagate
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="service.read_routing"):
            started = time.monotonic()
            status, used = await read(app, statements, "/api/user", b.headers)
            took = time.monotonic() - started
    finally:
        logger.removeHandler(caplog.handler)
    print(f"\na read that found the replica gone was answered by the primary in {took:.3f} s")
    # Tried on the replica (unless its pooled connection was already known closed), answered
    # by the primary.
    assert status == 200
    assert "primary" in used
    assert "read moved from the replica to the primary" in caplog.text
    assert (await readyz(app))["replica"] == "down"
    assert await read(app, statements, "/api/user", b.headers) == (200, {"primary"})


async def test_a_replica_behind_past_the_bound_sends_reads_to_the_primary(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    bound = 1.0
    app = await replica_app(
        replica_check_seconds=0.1, replica_max_lag_seconds=bound, read_your_writes_seconds=bound
    )
    statements = EngineStatements(app)
    a, b = await two_users(app, pair)
    pair.pause_replay()
    slug = await write_article(app.test_client(), a.headers, "Behind")
    wrote = time.monotonic()

    async def lagging() -> bool:
        return (await readyz(app))["replica"] == "lagging"

    # Within the bound of the write, or sooner: the replica is known to show commits only up
    # to its last check before the write.
    await eventually(lagging, "replica reported lagging")
    detected = time.monotonic() - wrote
    assert await read(app, statements, f"/api/articles/{slug}", b.headers) == (200, {"primary"})

    pair.resume_replay()
    resumed = time.monotonic()

    async def ok() -> bool:
        return (await readyz(app))["replica"] == "ok"

    await eventually(ok, "replica caught up")
    caught_up = time.monotonic() - resumed
    assert await read(app, statements, f"/api/articles/{slug}", b.headers) == (200, {"replica"})
    print(
        f"\nreplay paused: lagging {detected:.2f} s after a write (bound {bound:g} s); "
        f"resumed: ok after {caught_up:.2f} s"
    )


async def test_marks_are_shared_by_workers_through_redis(
    replica_app: Callable[..., Any], pair: Pair, redis_prefix: str
) -> None:
    """Two apps are two workers: a write through one sends its caller's reads through the
    other to the primary (in each worker's memory alone, the second would not know)."""
    shared = {**STEADY, "redis_url": REDIS_TEST_URL, "rate_limit_key_prefix": redis_prefix}
    one, two = await replica_app(**shared), await replica_app(**shared)
    statements = EngineStatements(two)
    a, b = await two_users(one, pair)
    pair.pause_replay()
    slug = await write_article(one.test_client(), a.headers, "Written through one")
    assert await read(two, statements, f"/api/articles/{slug}", a.headers) == (200, {"primary"})
    assert await read(two, statements, f"/api/articles/{slug}", b.headers) == (404, {"replica"})


async def test_without_redis_authenticated_reads_use_the_primary(
    replica_app: Callable[..., Any], pair: Pair, redis_prefix: str
) -> None:
    """Redis down: marks made by other workers are out of sight, so a caller's reads go to
    the primary; anonymous reads, which have no writes to see, stay on the replica."""
    gone = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = await replica_app(**STEADY, redis_url=gone, rate_limit_key_prefix=redis_prefix)
    statements = EngineStatements(app)
    a, _ = await two_users(app, pair)
    assert await read(app, statements, "/api/articles") == (200, {"replica"})
    assert await read(app, statements, "/api/articles", a.headers) == (200, {"primary"})


async def test_an_app_started_while_the_replica_is_down_serves_from_the_primary(
    replica_app: Callable[..., Any], pair: Pair
) -> None:
    pair.stop_replica()
    app = await replica_app(**STEADY)
    statements = EngineStatements(app)
    a, _ = await two_users(app, pair)
    assert await readyz(app) == {"status": "ready", "replica": "down"}
    assert await read(app, statements, "/api/user", a.headers) == (200, {"primary"})
    pair.start_replica()

    async def back() -> bool:
        return (await readyz(app)).get("replica") == "ok"

    await eventually(back, "replica back to ok")
    assert await read(app, statements, "/api/user", a.headers) == (200, {"replica"})


async def test_credentials_revoked_through_the_primary_are_refused_at_once(
    replica_app: Callable[..., Any], pair: Pair, redis_prefix: str
) -> None:
    """A copy of a browser's cookie, read from the replica until its user writes; "sign out
    everywhere" sends every read with that user's credentials to the primary, which no longer
    has the session: refused, even though the replica (replay paused) still has it."""
    app = await replica_app(**STEADY, redis_url=REDIS_TEST_URL, rate_limit_key_prefix=redis_prefix)
    statements = EngineStatements(app)
    a, _ = await two_users(app, pair)
    browser = app.test_client()
    csrf = await sign_in(browser, a.email, a.password)
    page = await browser.get("/account")
    copied = cookie_header(page).split(";")[0]
    pair.wait_replayed()
    await forget_marks(redis_prefix)  # as if the window had passed
    stranger = app.test_client()
    before = statements.snapshot()
    assert (await stranger.get("/account", headers={"Cookie": copied})).status_code == 200
    assert statements.snapshot()["replica"] > before["replica"]

    pair.pause_replay()
    signed_out = await browser.post("/logout-all", form={"csrf_token": csrf})
    assert signed_out.status_code == 303
    before = statements.snapshot()
    replay = await stranger.get("/account", headers={"Cookie": copied})
    assert replay.status_code == 303  # to the sign-in page: the session has ended
    assert statements.snapshot()["replica"] == before["replica"]


async def forget_marks(prefix: str) -> None:
    client = redis.from_url(REDIS_TEST_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + MARK_PREFIX + "*")]
        assert keys, "no read-your-writes mark to forget"
        await client.delete(*keys)
    finally:
        await client.aclose()


async def test_behind_pgbouncer_reads_come_from_the_replica(
    replica_app: Callable[..., Any], pair: Pair, tmp_path: Path
) -> None:
    """DATABASE_POOLER applies to both: a PgBouncer (transaction pooling) in front of each.
    (replica_app only cleans up here: the app must stop before its poolers.)"""
    with (
        pgbouncer(tmp_path / "primary", pair.primary_url) as to_primary,
        pgbouncer(tmp_path / "replica", pair.replica_url) as to_replica,
    ):
        settings = replica_settings(
            pair,
            **STEADY,
            database_url=to_primary.url(pair.primary_url),
            database_read_url=to_replica.url(pair.replica_url),
            database_pooler="pgbouncer",
        )
        app = create_app(settings)
        async with app.test_app():  # stopped before its poolers are
            statements = EngineStatements(app)
            a, b = await two_users(app, pair)
            assert (await readyz(app))["replica"] == "ok"
            pair.pause_replay()
            slug = await write_article(app.test_client(), a.headers, "Through the poolers")
            path = f"/api/articles/{slug}"
            assert await read(app, statements, path, b.headers) == (404, {"replica"})
            assert await read(app, statements, path, a.headers) == (200, {"primary"})
            pair.resume_replay()
            pair.wait_replayed()
            assert await read(app, statements, path, b.headers) == (200, {"replica"})

"""Admission (service/admission.py): at most pool-size requests inside, the rest queue in
arrival order within their deadline; health, readiness and metrics never queue."""

from __future__ import annotations

import asyncio

from sqlalchemy import event

from tests.factories import UserFactory
from tests.helpers import error_of


def _with_gated_route(app, log: list[str], entered: asyncio.Event | None = None):
    release = asyncio.Event()

    @app.get("/test/hold/<name>")
    async def hold(name: str) -> dict[str, str]:
        log.append(f"in {name}")
        if entered is not None:
            entered.set()
        try:
            await release.wait()
        except asyncio.CancelledError:  # stuck past its deadline, like work in a thread
            await release.wait()
        log.append(f"out {name}")
        return {"name": name}

    return release


async def test_requests_queue_in_arrival_order_for_the_pools_connections(app_with):
    app = await app_with(db_pool_size=1, db_max_overflow=0)
    log: list[str] = []
    release = _with_gated_route(app, log)
    client = app.test_client()
    assert app.extensions["admission"].slots == 1

    tasks = []
    for name in "abcd":
        tasks.append(asyncio.create_task(client.get(f"/test/hold/{name}")))
        await asyncio.sleep(0.02)  # arrive in this order
    assert log == ["in a"]  # one inside, three waiting
    assert app.extensions["admission"].waiting == 3

    # Liveness, readiness and metrics answer while every slot is taken.
    for path in ("/healthz", "/readyz", "/metrics"):
        response = await asyncio.wait_for(client.get(path), timeout=2)
        assert response.status_code == 200, path

    release.set()
    responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 4
    assert log == ["in a", "out a", "in b", "out b", "in c", "out c", "in d", "out d"]


async def test_waiting_counts_against_the_deadline(app_with):
    app = await app_with(
        db_pool_size=1, db_max_overflow=0, request_timeout_seconds=0.3, db_statement_timeout_ms=200
    )
    log: list[str] = []
    entered = asyncio.Event()
    release = _with_gated_route(app, log, entered)
    client = app.test_client()
    holder = asyncio.create_task(client.get("/test/hold/slow"))
    await asyncio.wait_for(entered.wait(), timeout=10)  # it holds the only slot
    response = await client.get("/api/tags")  # queued behind it past its deadline
    assert await error_of(response, 503) == {"request": ["timed out"]}
    release.set()
    await holder
    assert app.extensions["admission"].waiting == 0
    assert (await client.get("/api/tags")).status_code == 200  # the slot was given back


async def test_hashing_gives_the_slot_back_so_reads_pass_a_login_burst(app_with):
    app = await app_with(db_pool_size=1, db_max_overflow=0)
    client = app.test_client()
    member = await UserFactory(app).make()
    hasher = app.extensions["security"].hasher
    hashing = asyncio.Event()
    done = asyncio.Event()
    original = hasher._check

    def slow_check(password_hash: str, password: str) -> bool:  # in the hashing thread
        loop.call_soon_threadsafe(hashing.set)
        asyncio.run_coroutine_threadsafe(done.wait(), loop).result(timeout=10)
        return original(password_hash, password)

    loop = asyncio.get_running_loop()
    hasher._check = slow_check
    login = asyncio.create_task(
        client.post(
            "/api/users/login",
            json={"user": {"email": member.email, "password": member.password}},
        )
    )
    await asyncio.wait_for(hashing.wait(), timeout=5)
    # The login holds no slot while it hashes: a read gets the only one at once.
    response = await asyncio.wait_for(client.get("/api/tags"), timeout=2)
    assert response.status_code == 200
    done.set()
    assert (await login).status_code == 200  # and it queued again to finish
    assert app.extensions["admission"].waiting == 0


async def test_the_pool_keeps_the_connections_admission_lets_in(app, users):
    """At the default settings every connection that admission's slots can use at once is
    kept: bursts of requests find them open, none is closed on return and opened again by
    the next burst (each a new PostgreSQL backend: a connect cost a worker about as much CPU
    as 40 requests, measured under load)."""
    made = await users.make()
    pool = app.extensions["db"].engine.sync_engine.pool
    opened: list[object] = []
    closed: list[object] = []

    def on_connect(*_: object) -> None:
        opened.append(1)

    def on_close(*_: object) -> None:
        closed.append(1)

    event.listen(pool, "connect", on_connect)
    event.listen(pool, "close", on_close)
    slots = app.extensions["admission"].slots
    client = app.test_client()
    try:
        for _ in range(3):  # bursts of three requests a slot, quiet in between
            responses = await asyncio.gather(
                *(client.get("/api/user", headers=made.headers) for _ in range(3 * slots))
            )
            assert [r.status_code for r in responses] == [200] * (3 * slots)
    finally:
        event.remove(pool, "connect", on_connect)
        event.remove(pool, "close", on_close)
    if not app.extensions["db"].settings.is_sqlite:  # SQLite's pool is SQLAlchemy's own
        assert closed == []
        assert 0 < len(opened) <= slots

"""A connection the database closed is replaced before a request gets it (db.py), without the
round trip of SQLAlchemy's pre-ping."""

from __future__ import annotations

import asyncio

import asyncpg
from quart import Quart
from sqlalchemy.engine import make_url


async def _pooled_driver_connections(app: Quart, count: int) -> list[object]:
    """Check out `count` connections at once, so the pool holds that many, and return them."""
    engine = app.extensions["db"].engine
    connections = [await engine.connect() for _ in range(count)]
    drivers = [(await conn.get_raw_connection()).driver_connection for conn in connections]
    for conn in connections:
        await conn.close()
    return drivers


async def _drop(app: Quart, drivers: list[object]) -> None:
    settings = app.extensions["settings"]
    if settings.is_sqlite:
        for driver in drivers:  # what a file database can do: the driver connection goes away
            await driver.close()  # type: ignore[attr-defined]
        return
    pids = [driver.get_server_pid() for driver in drivers]  # type: ignore[attr-defined]
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:  # as a restart, a failover or an idle timeout on the server would
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await admin.close()
    for _ in range(100):  # the driver learns of it when its socket closes
        if all(driver.is_closed() for driver in drivers):  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not close the connections")


async def test_requests_after_the_database_dropped_connections_succeed(app: Quart, client, users):
    reader = await users.make()
    drivers = await _pooled_driver_connections(app, 3)
    await _drop(app, drivers)
    for path in ("/api/tags", "/api/user", "/api/articles", "/readyz"):  # reads and a session
        response = await client.get(path, headers=reader.headers)
        assert response.status_code == 200, (path, await response.get_data(as_text=True))
    response = await client.put(  # a write too
        "/api/user", json={"user": {"bio": "back"}}, headers=reader.headers
    )
    assert response.status_code == 200

"""Killing one of the app's database connections from the outside, on either database."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings


async def driver_of(session: AsyncSession) -> Any:
    """The driver connection under the session's current transaction."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def kill(settings: Settings, driver: Any) -> None:
    """End the connection as the server would (PostgreSQL: pg_terminate_backend, as a
    restart or failover does; SQLite: the driver connection goes away) and wait until the
    driver knows."""
    if settings.is_sqlite:
        await driver.close()
        return
    pid = driver.get_server_pid()
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(200):
        if driver.is_closed():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not close the connection")

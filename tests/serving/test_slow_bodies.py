"""Slow request bodies on a live server, over raw sockets: a request holds no database slot
while its body is still arriving, and a body that stalls is answered 408 after
BODY_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import empty_tables
from tests.live import live_server

SLOTS = 2
STALLED = 3 * SLOTS
BODY_TIMEOUT = 5.0
BODY = json.dumps({"user": {"email": "slow@example.com", "password": "slow-password"}}).encode()


def _head(length: int) -> bytes:
    return (
        b"POST /api/users/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout=10)
    return int(status_line.split()[1]), headers, body


async def _in_flight(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_in_flight":
                return sample.value
    return 0.0


async def test_stalled_bodies_hold_no_slot_and_end_in_408(tmp_path, settings, engine):
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "DB_POOL_SIZE": str(SLOTS),
        "DB_MAX_OVERFLOW": "0",
        "BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        # Shorter than the body timeout: before the fix the stalled requests held their slots
        # until this deadline, so a request queued behind them timed out (503) as well.
        "REQUEST_TIMEOUT_SECONDS": "4",
        "DB_STATEMENT_TIMEOUT_MS": "3000",
    }
    try:
        with live_server(tmp_path, env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await _scenario(server.port, http)
    finally:
        await empty_tables(engine)


async def _answered(reader: asyncio.StreamReader, sent: float):
    status, headers, body = await _response(reader)
    return status, headers, body, sent, time.monotonic()


async def _scenario(port: int, http: httpx.AsyncClient) -> None:
    stalled, writers = [], []
    for _ in range(STALLED):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_head(1000) + b"{")  # headers and one byte of a 1,000-byte body
        await writer.drain()
        stalled.append(asyncio.create_task(_answered(reader, time.monotonic())))
        writers.append(writer)
    # A body that arrives slowly, but within the timeout, is served as usual.
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
    slow_writer.write(_head(len(BODY)) + BODY[:10])
    await slow_writer.drain()

    # Wait until the server has every one of them (the scrape itself is in flight too).
    deadline = time.monotonic() + 20
    while await _in_flight(http) < STALLED + 2:
        assert time.monotonic() < deadline, "the stalled requests never reached the app"
        await asyncio.sleep(0.05)

    # Reads and health checks pass them: no slot is held by a body still arriving.
    tags = await http.get("/api/tags")
    assert tags.status_code == 200, tags.text
    assert (await http.get("/healthz")).status_code == 200
    answered_tags = time.monotonic()

    slow_writer.write(BODY[10:])
    await slow_writer.drain()
    status, _, body = await _response(slow_reader)
    assert status == 401, body  # the credentials were read and checked
    slow_writer.close()

    for status, headers, body, sent, answered in await asyncio.gather(*stalled):
        assert status == 408, body
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body) == {"errors": {"request": ["timed out"]}}
        assert answered - sent >= BODY_TIMEOUT - 0.1  # the body timeout, not something sooner
        assert answered > answered_tags  # the read did not wait for them
    for writer in writers:
        writer.close()
    # The server is fine afterwards.
    assert (await http.get("/api/tags")).status_code == 200

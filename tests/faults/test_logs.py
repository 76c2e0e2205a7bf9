"""Logs an operator can trust, on either database: the access log is the app's, JSON like every
other line; nothing a client sends starts a line or puts a control byte in the log; a client
that leaves mid-request is one quiet line; a failing statement's log line holds none of its
values."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import insert

from service import db
from service.models import User
from tests.conftest import empty_tables
from tests.live import BIN, Live, live_server

LAUNCHER_ONE_WORKER = ["-m", "service.serve", "--config", "hypercorn.toml"]
# A hash slow enough that a client can give up on a login while it runs.
SLOW_HASH = {"ARGON2_TIME_COST": "4", "ARGON2_MEMORY_KIB": "65536", "ARGON2_PARALLELISM": "1"}


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory, settings, engine) -> AsyncIterator[Live]:
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "WEB_CONCURRENCY": "1",
        "LOG_JSON": "true",
        **SLOW_HASH,
    }
    command = [str(BIN / "python"), *LAUNCHER_ONE_WORKER]
    try:
        with live_server(tmp_path_factory.mktemp("logs"), env, command) as live:
            yield live
    finally:
        await empty_tables(engine)


def _is_hypercorn_error_log(line: str) -> bool:
    # Hypercorn's own error log stays as it is: "[date] [pid] [LEVEL] message".
    return line.startswith("[") and "] [" in line


async def _raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


# Request targets as a client may send them, percent-encoded as HTTP requires: a line break
# followed by a forged JSON entry, terminal escapes, a NUL byte.
HOSTILE_TARGETS = {
    "inj-newline": (
        "/api/articles/x%0A%7B%22forged%22:true,%22level%22:%22error%22%7D%0Atail",
        "/api/articles/<slug:slug>",
    ),
    "inj-escape": ("/api/articles/%1B%5B31mred%1B%5B0m%1B%5B2J", "/api/articles/<slug:slug>"),
    "inj-nul": ("/nowhere/nul%00byte%0D%0A", "unmatched"),
}


async def test_access_log_is_json_and_clients_cannot_forge_lines_or_send_controls(server):
    mark = len(server.output())
    for request_id, (target, _route) in HOSTILE_TARGETS.items():
        answer = await _raw_request(
            server.port,
            f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Request-ID: {request_id}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 404"), answer[:80]
    # A forwarded-for header with bytes a header may carry (obs-text): U+0085 is a line break
    # to some viewers.
    answer = await _raw_request(
        server.port,
        b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Request-ID: inj-xff\r\n"
        b"X-Forwarded-For: 203.0.113.9\x85\x1b\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    await asyncio.sleep(0.3)

    raw = server.log.read_bytes()[mark:]
    controls = sorted({byte for byte in raw if (byte < 0x20 and byte != 0x0A) or byte == 0x7F})
    assert not controls, controls
    text = raw.decode("utf-8")
    assert not [c for c in text if 0x80 <= ord(c) <= 0x9F or c in "\u2028\u2029"]
    records = []
    for line in text.splitlines():
        if not _is_hypercorn_error_log(line):
            records.append(json.loads(line))  # every other line is one JSON object
    assert not [r for r in records if "forged" in r]
    by_id = {r["request_id"]: r for r in records if r["logger"] == "service.access"}
    for request_id, (target, route) in HOSTILE_TARGETS.items():
        entry = by_id[request_id]
        assert entry["path"] == target  # the raw path, as sent
        assert entry["route"] == route
        assert entry["status"] == 404
        assert entry["bytes"] > 0
        assert entry["duration_ms"] >= 0
        assert entry["client"] == "127.0.0.1"
    assert by_id["inj-xff"]["forwarded_for"] == "203.0.113.9\\x85\\x1b"
    mine = [r for r in records if str(r["request_id"]).startswith("inj-")]
    assert [r["logger"] for r in mine] == ["service.access"] * 4  # one line each, no more


async def test_a_client_that_leaves_mid_request_is_one_quiet_line(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        user = {"username": "leaver", "email": "leaver@example.com", "password": "pw-leaver-1"}
        made = await http.post("/api/users", json={"user": user})
        assert made.status_code == 201, made.text
        mark = len(server.output())
        login = {"user": {"email": user["email"], "password": user["password"]}}
        async with httpx.AsyncClient(base_url=server.url, timeout=0.1) as impatient:
            with pytest.raises(httpx.ReadTimeout):  # leaves while the hash runs
                await impatient.post(
                    "/api/users/login", json=login, headers={"X-Request-ID": "leaver-1"}
                )
        started = time.monotonic()
        again = await http.post("/api/users/login", json=login)
        assert again.status_code == 200, again.text
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.2)
    lines = server.output()[mark:].splitlines()
    assert not [line for line in lines if "Traceback" in line or "CancelledError" in line]
    mine = [json.loads(line) for line in lines if '"leaver-1"' in line]
    assert len(mine) == 1, mine
    assert mine[0]["level"] == "info"
    assert mine[0]["logger"] == "service.access"
    assert mine[0]["outcome"] == "client closed the request"


SECRETS = {
    "email": "leak-me@example.com",
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$c2VjcmV0aGFzaA",
    "bio": "my private biography",
}


async def test_a_failing_statement_logs_none_of_its_values(app_with, capsys):
    app = await app_with(log_json=True)

    raised: list[str] = []

    @app.post("/test/insert-twice")
    async def insert_twice() -> dict[str, str]:
        session = db.session()
        row = {"username": "leaky", "username_key": "leaky", **SECRETS}
        await session.execute(insert(User).values(**row))
        try:
            await session.execute(insert(User).values(**row))  # the same unique keys: fails
        except Exception as exc:
            raised.append(str(exc))
            raise
        return {"ok": "no"}

    capsys.readouterr()
    response = await app.test_client().post("/test/insert-twice")
    assert response.status_code == 500
    logged = capsys.readouterr().err
    # The error's own text (what any handler that logs it would write) holds no bind values;
    # PostgreSQL's message may still quote the one the constraint names, hence the log's
    # own care below.
    assert "parameters hidden" in raised[0]
    assert SECRETS["password_hash"] not in raised[0]
    assert SECRETS["bio"] not in raised[0]
    for value in (*SECRETS.values(), "leak-me", "private"):
        assert value not in logged, value
    errors = [json.loads(line) for line in logged.splitlines() if '"service.errors"' in line]
    assert len(errors) == 1, logged
    assert errors[0]["error"] == "IntegrityError" or errors[0]["error"].endswith("ViolationError")
    assert errors[0]["statement"].startswith("INSERT INTO users")
    assert "unique" in errors[0]["reason"].lower()  # what failed, named without the values

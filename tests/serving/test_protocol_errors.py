"""What a client sees from the real server for requests the app never gets to shape, or that
only the wire shows: hypercorn's own refusals are JSON too, OPTIONS has no HTML type, and no
redirect takes its target from the Host header."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from tests.conftest import empty_tables
from tests.live import Live, live_server


@pytest.fixture
def server(tmp_path, settings):
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    with live_server(tmp_path, env) as live:
        yield live


def _request(server: Live, method: str, target: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host="Host" in (headers or {}))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _raw(server: Live, data: bytes) -> bytes:
    """Send bytes as they are and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _json_error(status_line_and_rest: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = status_line_and_rest.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


async def test_an_oversized_request_line_or_header_is_a_json_431(server, engine):
    # Left unfinished, so h11 holds more than h11_max_incomplete_size (16 KiB) however the
    # bytes arrive: a whole head that arrives in one read is parsed whatever its size.
    too_large = {"errors": {"request": ["line or headers are too large"]}}
    try:
        status, headers, body = _json_error(_raw(server, b"GET /api/articles?q=" + b"x" * 40_000))
        assert status == 431
        assert headers["content-type"] == "application/json; charset=utf-8"
        assert int(headers["content-length"]) == len(json.dumps(too_large, separators=(",", ":")))
        assert body == too_large
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 40_000
        status, _, body = _json_error(_raw(server, head))
        assert (status, body) == (431, too_large)
        status, _, body = _json_error(_raw(server, b"NOT HTTP AT ALL\r\n\r\n"))
        assert (status, body) == (400, {"errors": {"request": ["is malformed"]}})
    finally:
        await empty_tables(engine)


async def test_no_redirect_takes_its_target_from_the_host_header(server, engine):
    try:
        for target in ("/api//articles", "/api/articles//feed", "//evil.example/api/articles"):
            status, headers, body = _request(server, "GET", target, {"Host": "evil.example"})
            assert status == 404, target
            assert not any(name.lower() == "location" for name, _ in headers), target
            assert json.loads(body) == {"errors": {"path": ["not found"]}}
        # Leading slashes are one to werkzeug's matcher, and a trailing one matches as if absent.
        for target in ("//api/articles", "/api/articles/"):
            status, headers, body = _request(server, "GET", target, {"Host": "evil.example"})
            assert status == 200, target
            assert not any(name.lower() == "location" for name, _ in headers), target
            assert json.loads(body) == {"articles": [], "articlesCount": 0}
    finally:
        await empty_tables(engine)


async def test_options_is_an_empty_204_with_allow_and_no_html(server, engine):
    try:
        status, headers, body = _request(server, "OPTIONS", "/api/articles")
        names = {name.lower(): value for name, value in headers}
        assert (status, body) == (204, b"")
        assert "content-type" not in names
        assert set(names["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST", "OPTIONS"}
    finally:
        await empty_tables(engine)

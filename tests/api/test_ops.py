"""Operations endpoints and the behaviour every route shares: request ids, 500s, CORS."""

from __future__ import annotations

import logging

from quart import Quart

from service import create_app
from tests.helpers import error_of


async def test_healthz_does_no_io(client, count_queries):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert count_queries.count == 0


async def test_readyz_pings_the_database(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ready"}


async def test_readyz_is_503_when_draining(client, app: Quart):
    app.extensions["draining"] = True
    response = await client.get("/readyz")
    assert await error_of(response, 503) == {"service": ["draining"]}
    assert response.headers["Retry-After"]


async def test_readyz_is_503_when_database_unreachable(settings):
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    )
    app = create_app(broken)
    async with app.test_app():
        response = await app.test_client().get("/readyz")
        assert await error_of(response, 503) == {"database": ["unreachable"]}


async def test_request_id_is_echoed_or_made(client):
    sent = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert sent.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert unsafe.headers["X-Request-ID"] != "bad id <script>"


async def test_unexpected_error_is_500_json_logged_without_internals(app: Quart, caplog):
    @app.get("/api/explode")
    async def explode() -> str:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="service"):
        logging.getLogger("service").addHandler(caplog.handler)
        try:
            response = await app.test_client().get(
                "/api/explode", headers={"X-Request-ID": "rid-1"}
            )
        finally:
            logging.getLogger("service").removeHandler(caplog.handler)
    errors = await error_of(response, 500)
    assert "secret internals" not in str(errors)
    assert "rid-1" in errors["server"][0]
    record = next(r for r in caplog.records if r.name == "service.errors")
    assert record.request_id == "rid-1"
    assert record.exc_info is not None


async def test_nul_in_query_is_422(client, users):
    admin = await users.admin()
    response = await client.get("/api/users?q=a%00b", headers=admin.headers)
    assert await error_of(response, 422) == {"q": ["must not contain NUL characters"]}


async def test_cors_preflight_allows_configured_origin_only(settings):
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    async with app.test_app():
        client = app.test_client()
        preflight = await client.options(
            "/api/user",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed
        assert "content-type" in allowed
        other = await client.options(
            "/api/user",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
        )
        assert "Access-Control-Allow-Origin" not in other.headers

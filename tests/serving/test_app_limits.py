"""Serving concerns in-process: deadline, proxy headers, limits, metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import g, request
from sqlalchemy import func, select

from service.config import ConfigError, load_config
from service.models import User
from tests.helpers import error_of, raw_post


async def test_request_past_its_deadline_is_503_and_writes_nothing(app_with):
    # A registration with a deliberately slow hash cannot finish in 0.2 s.
    app = await app_with(
        request_timeout_seconds=0.2,
        db_statement_timeout_ms=100,
        argon2_time_cost=20,
        argon2_memory_kib=65536,
    )
    client = app.test_client()
    user = {"username": "late", "email": "late@example.com", "password": "late-password"}
    response = await client.post("/api/users", json={"user": user})
    assert await error_of(response, 503) == {"request": ["timed out"]}
    assert response.headers["Retry-After"] == "1"
    async with app.extensions["db"].sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    # The app is fine afterwards.
    assert (await client.get("/api/tags")).status_code == 200


async def _seen_client(app, headers):
    seen = {}

    @app.before_request
    async def _record() -> None:
        seen["addr"], seen["scheme"] = request.remote_addr, request.scheme
        g.setdefault("seen", seen)

    await app.test_client().get("/healthz", headers=headers)
    return seen


async def test_forwarded_headers_ignored_without_trusted_hops(app_with):
    app = await app_with(trusted_proxy_hops=0)
    seen = await _seen_client(app, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert seen["addr"] != "203.0.113.9"
    assert seen["scheme"] == "http"


async def test_forwarded_headers_honoured_for_trusted_hops(app_with):
    app = await app_with(trusted_proxy_hops=1)
    # The client claims an address; the one proxy we trust appends the real one.
    seen = await _seen_client(
        app, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert seen == {"addr": "203.0.113.9", "scheme": "https"}


async def test_json_depth_limit_from_config(app_with):
    app = await app_with(max_json_depth=4)
    client = app.test_client()
    deep = b'{"user": {"a": {"b": {"c": {"d": 1}}}}}'
    response = await raw_post(client, "/api/users/login", deep)
    assert (await error_of(response, 422)) == {
        "body": ["is nested too deeply (maximum depth is 4)"]
    }


async def test_body_size_limit(app_with):
    app = await app_with(max_body_bytes=2048)
    response = await raw_post(app.test_client(), "/api/users", b'{"user": "' + b"x" * 4096 + b'"}')
    assert (await error_of(response, 413)).keys() == {"body"}


def test_statement_timeout_must_fit_the_deadline():
    with pytest.raises(ConfigError, match="DB_STATEMENT_TIMEOUT_MS"):
        load_config("testing", request_timeout_seconds=1, db_statement_timeout_ms=5000)


async def test_metrics_parse_and_count_by_route_template(client, users, articles):
    alice = await users.make()
    await articles.make(alice, title="Counted")
    for _ in range(3):
        await client.get("/api/articles/counted")
    await client.get("/api/articles/missing")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    families = {
        f.name: f for f in text_string_to_metric_families((await response.get_data()).decode())
    }
    samples = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["http_requests"].samples
        if s.name == "http_requests_total" and s.labels["method"] == "GET"
    }
    assert samples[("/api/articles/<slug:slug>", "200")] >= 3
    assert samples[("/api/articles/<slug:slug>", "404")] >= 1
    assert not any("counted" in route for route, _ in samples)  # templates, not paths
    assert "http_request_duration_seconds" in families
    assert "http_requests_in_flight" in families
    assert "db_pool_connections_in_use" in families

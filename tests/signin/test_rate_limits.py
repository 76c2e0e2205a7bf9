"""Login rate limits on the page and the API, per account and per address, with Redis
(TEST_REDIS_URL, default db 4 on 127.0.0.1:6379, a prefix per test; scripts/system-deps starts
it if it is installed but not running) and with the in-process counters."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.helpers import error_of
from tests.signin.helpers import submit_login

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")


@pytest.fixture(params=["memory", "redis"])
async def limited(request, app_with):
    """An app factory with small login limits, counting in memory or in Redis."""
    prefix = f"test:{uuid.uuid4().hex}:"
    redis_url = REDIS_TEST_URL if request.param == "redis" else None

    async def build(**limits):
        return await app_with(redis_url=redis_url, rate_limit_key_prefix=prefix, **limits)

    yield build
    if redis_url:
        import redis.asyncio as redis

        client = redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def api_login(client, email, password):
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


async def make_user(app, email="limited@example.com", password="right-password"):  # noqa: S107
    from tests.factories import UserFactory

    return await UserFactory(app).make(email=email, password=password)


async def test_account_limit_on_the_api(limited):
    app = await limited(login_rate_limit_per_account=3, login_rate_limit_per_address=100)
    client = app.test_client()
    user = await make_user(app)
    for _ in range(3):
        await error_of(await api_login(client, user.email, "wrong-password"), 401)
    response = await api_login(client, user.email, user.password)  # right, but too late
    assert await error_of(response, 429) == {"credentials": ["too many attempts, try again later"]}
    assert 1 <= int(response.headers["Retry-After"]) <= 300
    other = await make_user(app, email="other@example.com")
    assert (await api_login(client, other.email, other.password)).status_code == 200


async def test_address_limit_across_accounts(limited):
    app = await limited(login_rate_limit_per_account=100, login_rate_limit_per_address=3)
    client = app.test_client()
    for n in range(3):
        await error_of(await api_login(client, f"guess{n}@example.com", "x-password"), 401)
    response = await api_login(client, "guess9@example.com", "x-password")
    await error_of(response, 429)


async def test_success_clears_the_account_count(limited):
    app = await limited(login_rate_limit_per_account=3, login_rate_limit_per_address=100)
    client = app.test_client()
    user = await make_user(app)
    for _ in range(2):
        await error_of(await api_login(client, user.email, "wrong-password"), 401)
    assert (await api_login(client, user.email, user.password)).status_code == 200
    for _ in range(2):
        await error_of(await api_login(client, user.email, "wrong-password"), 401)
    assert (await api_login(client, user.email, user.password)).status_code == 200


async def test_window_resets(limited):
    app = await limited(login_rate_limit_per_account=1, login_rate_limit_window_seconds=1)
    client = app.test_client()
    user = await make_user(app)
    await error_of(await api_login(client, user.email, "wrong-password"), 401)
    await error_of(await api_login(client, user.email, user.password), 429)
    await asyncio.sleep(1.2)
    assert (await api_login(client, user.email, user.password)).status_code == 200


async def test_parallel_guesses_cannot_pass_the_limit(limited):
    app = await limited(login_rate_limit_per_account=3, login_rate_limit_per_address=100)
    client = app.test_client()
    user = await make_user(app)
    responses = await asyncio.gather(
        *(api_login(client, user.email, "wrong-password") for _ in range(12))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [401] * 3 + [429] * 9


async def test_page_is_limited_too(limited):
    app = await limited(login_rate_limit_per_account=2, login_rate_limit_per_address=100)
    client = app.test_client()
    user = await make_user(app)
    for _ in range(2):
        assert (await submit_login(client, user.email, "wrong-password")).status_code == 401
    response = await submit_login(client, user.email, user.password)
    assert response.status_code == 429
    assert "Too many attempts" in await response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    # The API shares the count: it is one account.
    await error_of(await api_login(client, user.email, user.password), 429)


async def test_failed_attempts_are_logged_without_the_password(app_with, capsys):
    app = await app_with()
    client = app.test_client()
    user = await make_user(app)
    capsys.readouterr()
    await api_login(client, user.email, "secret-guess-123")
    logged = capsys.readouterr().err
    line = next(line for line in logged.splitlines() if "login failed" in line)
    assert f"email={user.email}" in line
    assert "client=" in line
    assert "secret-guess-123" not in logged


async def test_unreachable_redis_still_limits_in_memory(app_with):
    app = await app_with(
        redis_url="redis://127.0.0.1:1/0",
        login_rate_limit_per_account=1,
    )
    client = app.test_client()
    user = await make_user(app)
    await error_of(await api_login(client, user.email, "wrong-password"), 401)
    await error_of(await api_login(client, user.email, user.password), 429)

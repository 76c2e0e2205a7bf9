"""Login and registration rate limits on the page and the API, per account, per (account,
address) pair and per address, with Redis (TEST_REDIS_URL, default db 4 on 127.0.0.1:6379, a
prefix per test; scripts/system-deps starts it if it is installed but not running) and with
the in-process counters; and what a stranger can no longer do: lock an owner out of their
account."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from service.config import Settings
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


def api_login(client, email, password, address=None):
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(
        "/api/users/login",
        json={"user": {"email": email, "password": password}},
        headers=headers,
    )


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
    app = await limited(
        login_rate_limit_per_account_address=3,
        login_rate_limit_per_account=100,
        login_rate_limit_per_address=100,
    )
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


# Lock-out: a stranger cannot keep the owner out.

OWNER_HOME = "198.51.100.7"


async def test_a_stranger_cannot_lock_the_owner_out_with_the_default_limits(limited):
    defaults = {
        name: field.default
        for name, field in Settings.model_fields.items()
        if name.startswith("login_rate_limit_")
    }
    app = await limited(trusted_proxy_hops=1, **defaults)
    client = app.test_client()
    owner = await make_user(app)
    stranger = "203.0.113.66"
    for _ in range(5):
        await error_of(await api_login(client, owner.email, "a-guess-123", stranger), 401)
    # The stranger is slowed down ...
    await error_of(await api_login(client, owner.email, "a-guess-456", stranger), 429)
    await error_of(await api_login(client, owner.email, owner.password, stranger), 429)
    # ... the owner, elsewhere, is not.
    response = await api_login(client, owner.email, owner.password, OWNER_HOME)
    assert response.status_code == 200


async def test_the_account_ceiling_spares_addresses_that_signed_in_before(limited):
    app = await limited(
        trusted_proxy_hops=1,
        login_rate_limit_per_account_address=3,
        login_rate_limit_per_account=6,
        login_rate_limit_per_address=100,
    )
    client = app.test_client()
    owner = await make_user(app)
    assert (await api_login(client, owner.email, owner.password, OWNER_HOME)).status_code == 200
    # Many addresses together reach the account's ceiling ...
    for n in range(2):
        for _ in range(3):
            await error_of(
                await api_login(client, owner.email, "guess-1234", f"203.0.113.{n}"), 401
            )
    await error_of(await api_login(client, owner.email, "guess-1234", "203.0.113.50"), 429)
    # ... which holds new addresses, the right password too, until the window ends ...
    await error_of(await api_login(client, owner.email, owner.password, "192.0.2.80"), 429)
    # ... but not the owner's known address.
    assert (await api_login(client, owner.email, owner.password, OWNER_HOME)).status_code == 200


# Registration


def register(client, n, address=None, **overrides):
    user = {"username": f"new{n}", "email": f"new{n}@example.com", "password": "a-password-1"}
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/api/users", json={"user": {**user, **overrides}}, headers=headers)


async def test_registrations_are_limited_per_address(limited):
    app = await limited(trusted_proxy_hops=1, register_rate_limit_per_address=3)
    client = app.test_client()
    flood = "203.0.113.9"
    assert (await register(client, 1, flood)).status_code == 201
    assert (await register(client, 2, flood)).status_code == 201
    await error_of(await register(client, 1, flood), 409)  # refused ones count too
    response = await register(client, 3, flood)
    assert await error_of(response, 429) == {"request": ["too many requests, try again later"]}
    assert int(response.headers["Retry-After"]) >= 1
    assert (await register(client, 4, "198.51.100.20")).status_code == 201

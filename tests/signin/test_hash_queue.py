"""A login burst beyond what the hashing threads can do in HASH_QUEUE_SECONDS is refused at
once with 503 and Retry-After (JSON on the API, the form on the page), never held until the
client gives up."""

from __future__ import annotations

import asyncio
import threading

from tests.factories import UserFactory
from tests.helpers import error_of
from tests.signin.helpers import submit_login


async def _occupy(hasher, release: threading.Event) -> asyncio.Task:
    """Occupy the only hashing thread until `release`, and say a hash takes a second: any new
    one would wait past the 0.5 s budget."""
    hasher._mean_seconds = 1.0
    blocker = asyncio.create_task(hasher._run(release.wait, 5))
    await asyncio.sleep(0.05)
    return blocker


async def _busy_app(app_with, users_email: str = "queued@example.com", **overrides):
    app = await app_with(hash_threads=1, hash_queue_seconds=0.5, **overrides)
    user = await UserFactory(app).make(email=users_email, password="right-password")
    release = threading.Event()
    blocker = await _occupy(app.extensions["security"].hasher, release)
    return app, user, release, blocker


async def test_api_login_is_refused_with_503_while_the_hashing_queue_is_full(app_with):
    app, user, release, blocker = await _busy_app(app_with)
    client = app.test_client()
    try:
        response = await client.post(
            "/api/users/login", json={"user": {"email": user.email, "password": user.password}}
        )
        assert await error_of(response, 503) == {"request": ["the server is busy, try again later"]}
        assert response.headers["Retry-After"] == "2"
        registered = await client.post(
            "/api/users",
            json={"user": {"username": "late", "email": "late@example.com", "password": "x" * 12}},
        )
        await error_of(registered, 503)
    finally:
        release.set()
        await blocker
    # Once the thread is free the same login goes through, and nothing was written meanwhile.
    response = await client.post(
        "/api/users/login", json={"user": {"email": user.email, "password": user.password}}
    )
    assert response.status_code == 200
    late = await client.post(
        "/api/users/login",
        json={"user": {"email": "late@example.com", "password": "x" * 12}},
    )
    assert late.status_code == 401


async def test_page_login_says_busy_with_503_and_keeps_the_email(app_with):
    app, user, release, blocker = await _busy_app(app_with, "page-queued@example.com")
    client = app.test_client()
    try:
        response = await submit_login(client, user.email, user.password)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        page = await response.get_data(as_text=True)
        assert "The service is busy. Try again in 2 seconds." in page
        assert f'value="{user.email}"' in page
        assert (await client.get("/account")).status_code == 303  # not signed in
    finally:
        release.set()
        await blocker


async def test_refused_logins_do_not_count_against_the_rate_limits(app_with):
    app, user, release, blocker = await _busy_app(
        app_with,
        "patient@example.com",
        login_rate_limit_per_account=2,
        login_rate_limit_per_address=2,
    )
    security = app.extensions["security"]
    client = app.test_client()
    login = {"user": {"email": user.email, "password": user.password}}
    try:
        for _ in range(4):  # refused before the limiter counts them
            await error_of(await client.post("/api/users/login", json=login), 503)
    finally:
        release.set()
        await blocker

    # Busy only once the attempt was counted: the count is taken back.
    real_attempt = security.limiter.attempt
    blockers: list[asyncio.Task] = []
    second_release = threading.Event()

    async def attempt_then_busy(email, address):
        wait = await real_attempt(email, address)
        blockers.append(await _occupy(security.hasher, second_release))
        return wait

    security.limiter.attempt = attempt_then_busy
    try:
        for _ in range(3):
            await error_of(await client.post("/api/users/login", json=login), 503)
    finally:
        second_release.set()
        await asyncio.gather(*blockers)
        security.limiter.attempt = real_attempt

    assert (await client.post("/api/users/login", json=login)).status_code == 200

"""Password reset without enumeration: the request answers alike, in about the same time, for
known and unknown emails; limits per client address and per email; CSRF on the pages; tokens
that are hashed, single-use and expiring, of which concurrent confirms use one once; a reset
ends every token and session. The emails themselves, through a real SMTP server, are in
tests/jobs/test_password_reset.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from service.models import PasswordReset
from service.models.base import utcnow
from tests.factories import UserFactory
from tests.helpers import error_of
from tests.signin.helpers import CSRF_INPUT, sign_in, submit_login
from tests.signin.reset_helpers import (
    TOKEN_INPUT,
    confirm_on_page,
    confirm_reset,
    count,
    issue_token,
    outbox_rows,
    page_csrf,
    request_on_page,
    request_reset,
    reset_rows,
)

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")
NEW_PASSWORD = "a brand new passphrase"


def api_login(client, email, password):
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


def comparable(response) -> tuple[int, list[tuple[str, str]]]:
    """Status and headers, but the request id (each request has its own)."""
    headers = sorted((k.lower(), v) for k, v in response.headers.items())
    return response.status_code, [(k, v) for k, v in headers if k != "x-request-id"]


# The request: one answer for everyone.


async def test_known_and_unknown_emails_get_identical_answers(client, users):
    jake = await users.make(email="jake@example.com")
    known = await request_reset(client, jake.email)
    unknown = await request_reset(client, "jane@example.com")
    garbage = await request_reset(client, "not an address")
    assert known.status_code == 202
    for other in (unknown, garbage):
        assert comparable(other) == comparable(known)
        assert await other.get_data() == await known.get_data()
    body = await known.get_json()
    assert body == {
        "passwordReset": {
            "message": "If an account uses this email address, a link to choose a new "
            "password is on its way there. It works once.",
            "expiresInSeconds": 3600,
        }
    }
    # Each request is one job in the outbox, known or not: the same write either way.
    jobs = await outbox_rows(client.app)
    assert [job.args["user_id"] for job in jobs] == [jake.id, None, None]
    assert all(set(job.args) == {"user_id", "nonce", "expires_at"} for job in jobs)
    assert len({job.args["nonce"] for job in jobs}) == 3


async def test_the_page_answers_alike_for_known_and_unknown_emails(client, users):
    jake = await users.make(email="jake@example.com")
    known = await request_on_page(client, jake.email)
    unknown = await request_on_page(client, "jane@example.com")
    assert known.status_code == unknown.status_code == 200
    known_page = (await known.get_data(as_text=True)).replace("jake@", "X@")
    unknown_page = (await unknown.get_data(as_text=True)).replace("jane@", "X@")
    csrf = CSRF_INPUT.search(known_page)
    assert csrf is None  # the answer is a message, not a form
    assert known_page == unknown_page
    assert "If an account uses <strong>X@example.com</strong>" in known_page
    assert "for 60 minutes" in known_page
    assert len(await outbox_rows(client.app)) == 2


async def test_request_timing_does_not_tell_known_from_unknown(app_with):
    """Both paths do the same work (one lookup, one outbox row, one commit; no hashing), so
    their medians agree within a tolerance set here: 25 % of the faster one plus 2 ms. A hash
    costs over 10 ms in this app, so a path that hashed would fail (as does one that sleeps
    5 ms more, tried)."""
    app = await app_with(argon2_time_cost=2, argon2_memory_kib=16_384)
    client = app.test_client()
    user = await UserFactory(app).make(email="timed@example.com")
    hasher = app.extensions["security"].hasher
    started = time.perf_counter()
    await hasher.hash("what a hash costs here")
    hash_seconds = time.perf_counter() - started

    async def timed(email: str) -> float:
        started = time.perf_counter()
        response = await request_reset(client, email)
        elapsed = time.perf_counter() - started
        assert response.status_code == 202
        return elapsed

    for n in range(5):  # warm up both paths
        await timed(user.email)
        await timed(f"warm{n}@example.com")
    known: list[float] = []
    unknown: list[float] = []
    for n in range(40):  # interleaved, so load on the host hits both alike
        known.append(await timed(user.email))
        unknown.append(await timed(f"nobody{n}@example.com"))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    tolerance = 0.25 * min(known_median, unknown_median) + 0.002
    print(
        f"password reset request: known {known_median * 1000:.2f} ms, unknown "
        f"{unknown_median * 1000:.2f} ms (median of 40 each), tolerance {tolerance * 1000:.2f} "
        f"ms; one argon2 hash here {hash_seconds * 1000:.1f} ms"
    )
    assert hash_seconds > tolerance  # a hash on one path only would be caught
    assert abs(known_median - unknown_median) <= tolerance


# Limits per client address and per email address, in memory and in Redis.


@pytest.fixture(params=["memory", "redis"])
async def limited(request, app_with):
    prefix = f"test:{uuid.uuid4().hex}:"
    redis_url = REDIS_TEST_URL if request.param == "redis" else None

    async def build(**limits):
        return await app_with(
            redis_url=redis_url, rate_limit_key_prefix=prefix, trusted_proxy_hops=1, **limits
        )

    yield build
    if redis_url:
        import redis.asyncio as redis

        client = redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_requests_are_limited_per_email_whether_or_not_an_account_uses_it(limited):
    app = await limited(
        password_reset_rate_limit_per_account=2, password_reset_rate_limit_per_address=100
    )
    client = app.test_client()
    jake = await UserFactory(app).make(email="jake@example.com")
    answers = {}
    for email in (jake.email, "Nobody@Example.com"):
        for n in range(2):  # from different addresses: the email's count is what fills
            assert (await request_reset(client, email, f"203.0.113.{n}")).status_code == 202
        refused = await request_reset(client, email.lower(), "198.51.100.9")
        assert await error_of(refused, 429) == {"request": ["too many requests, try again later"]}
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        answers[email] = (comparable(refused), await refused.get_data())
    known, unknown = answers.values()
    assert known[1] == unknown[1]
    assert [h for h in known[0][1] if h[0] != "retry-after"] == [
        h for h in unknown[0][1] if h[0] != "retry-after"
    ]
    assert len(await outbox_rows(app)) == 4  # a refused request enqueues nothing
    # The same address may still ask for another email.
    assert (await request_reset(client, "other@example.com", "198.51.100.9")).status_code == 202


async def test_requests_are_limited_per_client_address(limited):
    app = await limited(
        password_reset_rate_limit_per_account=100, password_reset_rate_limit_per_address=3
    )
    client = app.test_client()
    flood = "203.0.113.77"
    for n in range(3):
        assert (await request_reset(client, f"guess{n}@example.com", flood)).status_code == 202
    await error_of(await request_reset(client, "guess9@example.com", flood), 429)
    # The page counts with the API: one address.
    page = await request_on_page(client, "guess10@example.com", flood)
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) >= 1
    assert "Too many requests. Try again in" in await page.get_data(as_text=True)
    assert (await request_reset(client, "guess9@example.com", "198.51.100.20")).status_code == 202
    assert len(await outbox_rows(app)) == 4


# The pages: CSRF, the form, the link.


async def test_login_page_links_to_the_reset_page(client):
    login = await (await client.get("/login")).get_data(as_text=True)
    assert '<a href="/password-reset">Forgot password?</a>' in login
    response = await client.get("/password-reset")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    for needle in ('<label for="email">', 'name="csrf_token"', 'autocomplete="email"'):
        assert needle in html, needle
    assert "<script" not in html
    assert "style=" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_reset_request_form_needs_its_csrf_token(client, users):
    jake = await users.make()
    await page_csrf(client, "/password-reset")
    missing = await client.post("/password-reset", form={"email": jake.email})
    wrong = await client.post("/password-reset", form={"email": jake.email, "csrf_token": "x"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "session expired" in await response.get_data(as_text=True)
    assert len(await outbox_rows(client.app)) == 0
    empty = await request_on_page(client, "  ")
    assert empty.status_code == 422
    assert "Enter the email address" in await empty.get_data(as_text=True)
    assert len(await outbox_rows(client.app)) == 0


async def test_new_password_form_needs_its_csrf_token(client, users):
    jake = await users.make()
    token = await issue_token(client.app, jake.id)
    status, _ = await page_csrf(client, f"/password-reset/confirm?token={token}")
    assert status == 200
    form = {"token": token, "password": NEW_PASSWORD}
    missing = await client.post("/password-reset/confirm", form=form)
    wrong = await client.post("/password-reset/confirm", form={**form, "csrf_token": "forged"})
    for response in (missing, wrong):
        assert response.status_code == 403
        html = await response.get_data(as_text=True)
        assert "session expired" in html
        assert TOKEN_INPUT.search(html).group(1) == token  # the form again, to submit anew
    # Nothing changed: the old password works and so does the token.
    assert (await api_login(client, jake.email, jake.password)).status_code == 200
    assert (await confirm_reset(client, token, NEW_PASSWORD)).status_code == 204


async def test_reset_on_the_page_signs_out_everywhere(app, users):
    jake = await users.make()
    browser = app.test_client()
    await sign_in(browser, jake.email, jake.password)
    token = await issue_token(app, jake.id)
    page = await browser.get(f"/password-reset/confirm?token={token}")
    html = await page.get_data(as_text=True)
    assert 'autocomplete="new-password"' in html
    assert "<script" not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    short = await browser.post(
        "/password-reset/confirm",
        form={"token": token, "password": "short", "csrf_token": CSRF_INPUT.search(html)[1]},
    )
    assert short.status_code == 422
    assert "Choose a password of 8 to 256 characters." in await short.get_data(as_text=True)
    done = await confirm_on_page(browser, f"/password-reset/confirm?token={token}", NEW_PASSWORD)
    assert done.status_code == 200
    assert "Your password is changed" in await done.get_data(as_text=True)
    assert (await browser.get("/account")).status_code == 303  # this browser's session ended
    assert (await browser.get("/api/user", headers=jake.headers)).status_code == 401
    assert (await submit_login(browser, jake.email, NEW_PASSWORD)).status_code == 303
    assert (await api_login(browser, jake.email, jake.password)).status_code == 401
    # The link is spent: its page says so.
    spent = await browser.get(f"/password-reset/confirm?token={token}")
    assert spent.status_code == 422
    assert "expired or was already used" in await spent.get_data(as_text=True)


async def test_the_link_token_stays_out_of_the_access_log(app_with, capsys):
    app = await app_with()
    jake = await UserFactory(app).make()
    token = await issue_token(app, jake.id)
    capsys.readouterr()
    response = await app.test_client().get(f"/password-reset/confirm?token={token}")
    assert response.status_code == 200
    logged = capsys.readouterr().err
    assert "GET /password-reset/confirm 200" in logged
    assert token not in logged


# Tokens: hashed, single use, expiring; a reset ends every credential.


async def test_confirm_sets_the_password_and_revokes_everything(app, users):
    client = app.test_client()
    jake = await users.make()
    other = await users.make()
    browser = app.test_client()
    await sign_in(browser, jake.email, jake.password)
    old_login = await api_login(client, jake.email, jake.password)
    old_token = (await old_login.get_json())["user"]["token"]
    token = await issue_token(app, jake.id)
    (row,) = await reset_rows(app)
    assert row.id == hashlib.sha256(token.encode()).hexdigest()  # only the hash is stored
    assert row.used_at is None

    assert (await confirm_reset(client, token, NEW_PASSWORD)).status_code == 204
    for headers in (jake.headers, {"Authorization": f"Token {old_token}"}):
        assert await error_of(await client.get("/api/user", headers=headers), 401) == {
            "token": ["is invalid"]
        }
    assert (await browser.get("/account")).status_code == 303
    await error_of(await api_login(client, jake.email, jake.password), 401)
    fresh = await api_login(client, jake.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    new_headers = {"Authorization": f"Token {(await fresh.get_json())['user']['token']}"}
    assert (await client.get("/api/user", headers=new_headers)).status_code == 200
    assert (await client.get("/api/user", headers=other.headers)).status_code == 200  # not theirs

    again = await confirm_reset(client, token, "yet another passphrase")
    assert await error_of(again, 422) == {"token": ["is invalid or has expired"]}
    assert (await api_login(client, jake.email, NEW_PASSWORD)).status_code == 200


async def test_expired_and_unknown_tokens_are_refused_alike(app, users):
    client = app.test_client()
    jake = await users.make()
    token = await issue_token(app, jake.id)
    async with app.extensions["db"].sessionmaker() as session:
        await session.execute(
            update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    for candidate in (token, "made-up-token", token[:-1]):
        response = await confirm_reset(client, candidate, NEW_PASSWORD)
        assert await error_of(response, 422) == {"token": ["is invalid or has expired"]}
    page = await client.get(f"/password-reset/confirm?token={token}")
    assert page.status_code == 422
    assert (await client.get("/password-reset/confirm")).status_code == 422
    assert (await api_login(client, jake.email, jake.password)).status_code == 200
    short = await confirm_reset(client, token, "short")
    assert "password" in await error_of(short, 422)


async def test_a_new_link_replaces_the_older_ones_and_a_reset_ends_all(app, users):
    client = app.test_client()
    jake = await users.make()
    first = await issue_token(app, jake.id, ttl_seconds=3000)
    second = await issue_token(app, jake.id, ttl_seconds=3600)
    await error_of(await confirm_reset(client, first, NEW_PASSWORD), 422)
    later = await issue_token(app, jake.id, ttl_seconds=3500)  # an older request's job, late
    assert (await confirm_reset(client, later, NEW_PASSWORD)).status_code == 204
    await error_of(await confirm_reset(client, second, "another passphrase"), 422)
    assert [row.used_at is not None for row in await reset_rows(app)] == [True]


async def test_concurrent_confirms_with_one_token_exactly_one_wins(app, users):
    client = app.test_client()
    jake = await users.make()
    token = await issue_token(app, jake.id)
    passwords = [f"concurrent passphrase {n}" for n in range(8)]
    responses = await asyncio.gather(*(confirm_reset(client, token, p) for p in passwords))
    codes = [r.status_code for r in responses]
    assert sorted(codes) == [204] + [422] * 7, codes
    winner = passwords[codes.index(204)]
    for password in passwords:
        login = await api_login(client, jake.email, password)
        assert login.status_code == (200 if password == winner else 401)


async def test_confirm_is_shed_while_the_hashing_queue_is_full(app_with):
    app = await app_with(hash_threads=1, hash_queue_seconds=0.5)
    client = app.test_client()
    jake = await UserFactory(app).make()
    token = await issue_token(app, jake.id)
    hasher = app.extensions["security"].hasher
    release = threading.Event()
    hasher._mean_seconds = 1.0
    blocker = asyncio.create_task(hasher._run(release.wait, 5))
    await asyncio.sleep(0.05)
    try:
        response = await confirm_reset(client, token, NEW_PASSWORD)
        assert await error_of(response, 503) == {"request": ["the server is busy, try again later"]}
        assert int(response.headers["Retry-After"]) >= 1
        status, csrf = await page_csrf(client, f"/password-reset/confirm?token={token}")
        assert status == 200
        page = await client.post(
            "/password-reset/confirm",
            form={"token": token, "password": NEW_PASSWORD, "csrf_token": csrf},
        )
        assert page.status_code == 503
        assert "The service is busy" in await page.get_data(as_text=True)
        assert int(page.headers["Retry-After"]) >= 1
    finally:
        release.set()
        await blocker
    # Nothing was written: the token still works.
    assert await count(app, PasswordReset) == 1
    assert (await confirm_reset(client, token, NEW_PASSWORD)).status_code == 204

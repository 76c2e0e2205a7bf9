"""Idempotency-Key on the three POSTs that create: register, article, comment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Quart
from sqlalchemy import func, select, update

from service import db
from service.errors import TooManyRequests
from service.models import Article, Comment, IdempotencyKey, User
from service.routes.idempotency import idempotent
from service.services import idempotency as idempotency_service
from tests.helpers import error_of, raw_post

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def new_user(name: str = "jake") -> dict[str, object]:
    return {"user": {"username": name, "email": f"{name}@example.com", "password": "jakejakejake"}}


def new_article(title: str = "Idempotent dragons") -> dict[str, object]:
    return {"article": {"title": title, "description": "d", "body": "b", "tagList": ["x"]}}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, KEY: key}


async def count(app: Quart, model: type, *where: object) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def same_answer(first, second) -> None:
    """`second` is a replay of `first`: status, body bytes and content type, marked replayed."""
    assert second.status_code == first.status_code
    assert await second.get_data() == await first.get_data()
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.headers[REPLAYED] == "true"
    assert REPLAYED not in first.headers
    # Per exchange, not part of the answer: each request has its own id.
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]


async def test_a_retried_registration_gets_the_first_answer_and_registers_once(app, client):
    first = await client.post("/api/users", json=new_user(), headers={KEY: "reg-1"})
    assert first.status_code == 201
    again = await client.post("/api/users", json=new_user(), headers={KEY: "reg-1"})
    await same_answer(first, again)  # the same token, too
    assert await count(app, User) == 1
    # Without the key the contract is unchanged: the second one is taken.
    plain = await client.post("/api/users", json=new_user())
    assert (await error_of(plain, 409)).keys() <= {"username", "email"}


async def test_a_retried_article_gets_the_first_answer_and_is_created_once(app, client, users):
    alice = await users.make()
    first = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "a-1")
    )
    assert first.status_code == 201
    # The same JSON spelled differently (spacing, key order) is the same request.
    spelled = json.dumps(
        {
            "article": {
                "tagList": ["x"],
                "body": "b",
                "description": "d",
                "title": "Idempotent dragons",
            }
        },
        indent=2,
    ).encode()
    again = await raw_post(client, "/api/articles", spelled, headers=keyed(alice.headers, "a-1"))
    await same_answer(first, again)
    assert await count(app, Article) == 1


async def test_a_retried_comment_gets_the_first_answer_and_is_added_once(
    app, client, users, articles
):
    alice = await users.make()
    slug = (await articles.make(alice))["slug"]
    path = f"/api/articles/{slug}/comments"
    body = {"comment": {"body": "First!"}}
    first = await client.post(path, json=body, headers=keyed(alice.headers, "c-1"))
    assert first.status_code == 201
    again = await client.post(path, json=body, headers=keyed(alice.headers, "c-1"))
    await same_answer(first, again)
    assert await count(app, Comment) == 1


async def test_the_same_key_with_another_request_is_422_and_creates_nothing(
    app, client, users, articles
):
    alice = await users.make()
    first = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "k")
    )
    assert first.status_code == 201
    other = await client.post(
        "/api/articles", json=new_article("Another title"), headers=keyed(alice.headers, "k")
    )
    assert await error_of(other, 422) == {KEY: ["was already used for a different request"]}
    # Another path is another request too.
    slug = (await first.get_json())["article"]["slug"]
    comment = await client.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": "b"}},
        headers=keyed(alice.headers, "k"),
    )
    await error_of(comment, 422)
    assert await count(app, Article) == 1
    assert await count(app, Comment) == 0


async def test_keys_belong_to_their_caller(app, client, users):
    alice, bob = await users.make(), await users.make()
    made = []
    for author in (alice, bob):
        response = await client.post(
            "/api/articles", json=new_article(), headers=keyed(author.headers, "shared")
        )
        assert response.status_code == 201
        assert REPLAYED not in response.headers
        made.append((await response.get_json())["article"])
    assert [a["author"]["username"] for a in made] == [alice.username, bob.username]
    assert made[0]["slug"] != made[1]["slug"]
    again = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "shared")
    )
    assert (await again.get_json())["article"] == made[0]
    assert again.headers[REPLAYED] == "true"
    assert await count(app, Article) == 2


async def test_registration_keys_belong_to_the_client_address(app_with):
    app = await app_with(trusted_proxy_hops=1)
    client = app.test_client()

    async def register(address: str, name: str):
        return await client.post(
            "/api/users",
            json=new_user(name),
            headers={KEY: "signup", "X-Forwarded-For": address},
        )

    assert (await register("203.0.113.1", "first")).status_code == 201
    second = await register("203.0.113.2", "second")
    assert second.status_code == 201
    assert REPLAYED not in second.headers
    await error_of(await register("203.0.113.1", "third"), 422)
    assert await count(app, User) == 2
    async with app.extensions["db"].sessionmaker() as session:
        scopes = (await session.scalars(select(IdempotencyKey.scope))).all()
    assert len(set(scopes)) == 2
    assert not any("203.0.113" in scope for scope in scopes)  # a keyed hash, not the address


@asynccontextmanager
async def held_in_hashing(app: Quart) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """Registrations on `app` stop inside their password hash until `release` is set."""
    entered, release = asyncio.Event(), asyncio.Event()
    hasher = app.extensions["security"].hasher
    before = hasher.around

    @asynccontextmanager
    async def gate() -> AsyncIterator[None]:
        entered.set()
        await release.wait()
        yield

    hasher.around = gate
    try:
        yield entered, release
    finally:
        release.set()
        hasher.around = before


async def test_a_retry_while_the_first_runs_is_409_then_gets_its_answer(app, client):
    async with held_in_hashing(app) as (entered, release):
        running = asyncio.create_task(
            client.post("/api/users", json=new_user(), headers={KEY: "slow"})
        )
        await asyncio.wait_for(entered.wait(), 10)
        retry = await client.post("/api/users", json=new_user(), headers={KEY: "slow"})
        assert await error_of(retry, 409) == {
            KEY: ["is in use by a request still in progress, try again later"]
        }
        assert retry.headers["Retry-After"] == "1"
        other = await client.post("/api/users", json=new_user("else"), headers={KEY: "slow"})
        await error_of(other, 422)
        release.set()
        first = await running
    assert first.status_code == 201
    later = await client.post("/api/users", json=new_user(), headers={KEY: "slow"})
    await same_answer(first, later)
    assert await count(app, User) == 1


async def _claim_row(app: Quart, scope: str, key: str, fingerprint: str, at: datetime) -> None:
    """A claim with no answer, made at `at` by a request that never finished."""
    async with app.extensions["db"].sessionmaker() as session, session.begin():
        session.add(
            IdempotencyKey(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                token="lost",
                created_at=at,
                expires_at=at + idempotency_service.TTL,
            )
        )


async def test_a_claim_is_in_flight_until_the_request_deadline_then_taken_over(app, client, users):
    alice = await users.make()
    body = json.dumps(new_article()).encode()
    fingerprint = idempotency_service.fingerprint("POST", "/api/articles", body)
    scope = idempotency_service.user_scope(alice.id)
    now = datetime.now(UTC)
    deadline = timedelta(seconds=app.config["REQUEST_TIMEOUT_SECONDS"])

    await _claim_row(app, scope, "recent", fingerprint, now - deadline / 2)
    busy = await raw_post(client, "/api/articles", body, headers=keyed(alice.headers, "recent"))
    await error_of(busy, 409)

    await _claim_row(app, scope, "stale", fingerprint, now - deadline - timedelta(seconds=1))
    taken = await raw_post(client, "/api/articles", body, headers=keyed(alice.headers, "stale"))
    assert taken.status_code == 201
    assert REPLAYED not in taken.headers
    again = await raw_post(client, "/api/articles", body, headers=keyed(alice.headers, "stale"))
    await same_answer(taken, again)
    assert await count(app, Article) == 1


async def test_an_expired_key_is_not_served_and_runs_anew(app, client, users):
    alice = await users.make()
    first = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "old")
    )
    assert first.status_code == 201
    async with app.extensions["db"].sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "old")
    )
    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert (await again.get_json())["article"]["slug"] != (await first.get_json())["article"][
        "slug"
    ]
    assert await count(app, Article) == 2
    # The key now answers with the new article for another 24 hours.
    async with app.extensions["db"].sessionmaker() as session:
        row = await session.scalar(select(IdempotencyKey))
    assert row is not None
    expires_at = row.expires_at.replace(tzinfo=row.expires_at.tzinfo or UTC)
    assert expires_at > datetime.now(UTC) + timedelta(hours=23)
    replay = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "old")
    )
    await same_answer(again, replay)


async def test_malformed_keys_are_422_and_nothing_is_made(app, client, users):
    alice = await users.make()
    for bad in ["", "x" * 256, "tab\tinside", "del\x7f", "caf\xe9"]:
        response = await client.post(
            "/api/articles", json=new_article(), headers=keyed(alice.headers, bad)
        )
        assert await error_of(response, 422) == {
            KEY: ["must be 1 to 255 printable ASCII characters"]
        }, repr(bad)
    twice = await client.open(
        "/api/articles",
        method="POST",
        json=new_article(),
        headers=[*alice.headers.items(), (KEY, "one"), (KEY, "two")],
    )
    assert await error_of(twice, 422) == {KEY: ["must be sent once"]}
    assert await count(app, Article) == 0
    longest = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "k" * 255)
    )
    assert longest.status_code == 201
    spaced = await client.post(
        "/api/articles", json=new_article("Spaced"), headers=keyed(alice.headers, "a key ~!")
    )
    assert spaced.status_code == 201


async def test_a_4xx_answer_is_stored_and_replayed(app, client, users, articles):
    alice = await users.make()
    path = "/api/articles/later-article/comments"
    body = {"comment": {"body": "too early"}}
    missing = await client.post(path, json=body, headers=keyed(alice.headers, "early"))
    await error_of(missing, 404)
    await articles.make(alice, title="Later article")  # now the slug exists
    again = await client.post(path, json=body, headers=keyed(alice.headers, "early"))
    await same_answer(missing, again)
    assert (await client.post(path, json=body, headers=alice.headers)).status_code == 201


async def test_a_body_that_fails_validation_does_not_use_up_the_key(app, client, users):
    alice = await users.make()
    invalid = {"article": {"title": "", "description": "d", "body": "b"}}
    response = await client.post("/api/articles", json=invalid, headers=keyed(alice.headers, "v"))
    assert (await error_of(response, 422)).keys() == {"title"}
    fixed = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "v")
    )
    assert fixed.status_code == 201
    assert REPLAYED not in fixed.headers
    again = await client.post(
        "/api/articles", json=new_article(), headers=keyed(alice.headers, "v")
    )
    await same_answer(fixed, again)


async def test_a_5xx_frees_the_key_so_the_retry_runs(app_with):
    # One hashing thread and no queue: a registration arriving while another hashes is 503.
    app = await app_with(hash_threads=1, hash_queue_seconds=0)
    client = app.test_client()
    async with held_in_hashing(app) as (entered, release):
        blocker = asyncio.create_task(client.post("/api/users", json=new_user("blocker")))
        await asyncio.wait_for(entered.wait(), 10)
        busy = await client.post("/api/users", json=new_user(), headers={KEY: "busy"})
        await error_of(busy, 503)
        assert await count(app, IdempotencyKey) == 0  # freed at once
        release.set()
        assert (await blocker).status_code == 201
    retry = await client.post("/api/users", json=new_user(), headers={KEY: "busy"})
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    await same_answer(
        retry, await client.post("/api/users", json=new_user(), headers={KEY: "busy"})
    )
    assert await count(app, User) == 2


async def test_a_request_cut_at_its_deadline_frees_the_key(app_with):
    app = await app_with(request_timeout_seconds=0.5, db_statement_timeout_ms=500)
    client = app.test_client()
    async with held_in_hashing(app):  # never released while the first request runs
        cut = await client.post("/api/users", json=new_user(), headers={KEY: "cut"})
        assert await error_of(cut, 503) == {"request": ["timed out"]}
        # Freed on the way out, not left to turn stale.
        assert await count(app, IdempotencyKey) == 0
    retry = await client.post("/api/users", json=new_user(), headers={KEY: "cut"})
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    await same_answer(retry, await client.post("/api/users", json=new_user(), headers={KEY: "cut"}))
    assert await count(app, User) == 1


async def test_a_slow_settle_after_the_deadline_still_frees_the_key(app_with, monkeypatch):
    """Freeing the key after the deadline takes what it takes (a loaded host, a slow database):
    the deadline's repeated cancellations (every RECANCEL_SECONDS) must not cut it short and
    leave the key held until it turns stale."""
    app = await app_with(request_timeout_seconds=0.5, db_statement_timeout_ms=500)
    client = app.test_client()
    release = idempotency_service.release

    async def slow_release(session: Any, claim: Any) -> None:
        await asyncio.sleep(0.3)  # six re-cancellations' worth
        await release(session, claim)

    monkeypatch.setattr(idempotency_service, "release", slow_release)
    async with held_in_hashing(app):
        cut = await client.post("/api/users", json=new_user(), headers={KEY: "slow-settle"})
        assert await error_of(cut, 503) == {"request": ["timed out"]}
        assert await count(app, IdempotencyKey) == 0


async def test_without_a_key_nothing_is_stored(app, client, users):
    alice = await users.make()
    for _ in range(2):
        response = await client.post("/api/articles", json=new_article(), headers=alice.headers)
        assert response.status_code == 201
    assert await count(app, Article) == 2
    assert await count(app, IdempotencyKey) == 0


async def test_the_openapi_document_lists_the_header_and_its_answers(client):
    document = await (await client.get("/openapi.json")).get_json()
    keyed_operations = [
        ("/api/users", "post"),
        ("/api/articles", "post"),
        ("/api/articles/{slug}/comments", "post"),
    ]
    for path, method in keyed_operations:
        operation = document["paths"][path][method]
        (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
        assert header["name"] == KEY
        assert not header.get("required")
        assert header["schema"]["maxLength"] == 255
        assert "Retry-After" in operation["responses"]["409"]["description"]
        assert KEY in operation["responses"]["422"]["description"]
    login = document["paths"]["/api/users/login"]["post"]
    assert not [p for p in login["parameters"] if p["in"] == "header"]


async def test_browsers_may_send_the_key_and_read_the_replay_mark(app_with):
    app = await app_with(cors_origins=["https://app.example"])
    preflight = await app.test_client().options(
        "/api/articles",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "idempotency-key" in allowed
    response = await app.test_client().post(
        "/api/users", json=new_user(), headers={"Origin": "https://app.example"}
    )
    assert REPLAYED.lower() in response.headers["Access-Control-Expose-Headers"].lower()


async def test_what_a_failure_leaves_behind_depends_on_its_status(app, client):
    """On a route of the test's own: 4xx answers are kept, "try again" ones (429) and 5xx are
    not, whether the handler returns the status or raises."""
    calls: list[str] = []

    @app.post("/test/idempotent/<outcome>")
    @idempotent
    async def outcome_route(outcome: str) -> tuple[dict[str, int], int]:
        calls.append(outcome)
        if outcome == "limited":
            raise TooManyRequests(retry_after=3)
        if outcome == "crash":
            raise RuntimeError("boom")
        return {"call": len(calls)}, 418

    async def twice(outcome: str) -> list[Any]:
        return [
            await client.post(f"/test/idempotent/{outcome}", json={}, headers={KEY: outcome})
            for _ in range(2)
        ]

    teapot = await twice("teapot")
    await same_answer(*teapot)
    limited = await twice("limited")
    assert [r.status_code for r in limited] == [429, 429]
    assert [r.headers["Retry-After"] for r in limited] == ["3", "3"]
    crashed = await twice("crash")
    assert [r.status_code for r in crashed] == [500, 500]
    assert all(REPLAYED not in r.headers for r in limited + crashed)
    assert calls == ["teapot", "limited", "limited", "crash", "crash"]
    assert await count(app, IdempotencyKey) == 1  # the teapot's


async def test_a_request_whose_claim_was_taken_over_keeps_nothing(app, client):
    """A request that outlived its claim (a retry took it over meanwhile) may not answer for
    the key: its writes roll back and it gets 409."""

    @app.post("/test/idempotent-slow")
    @idempotent
    async def slow_route() -> tuple[dict[str, str], int]:
        # What a retry's takeover does to the row, committed while this request runs.
        async with app.extensions["db"].sessionmaker() as other, other.begin():
            await other.execute(update(IdempotencyKey).values(token="the retry's"))
        session = db.session()
        session.add(User(username="u", username_key="u", email="u@example.com", password_hash="x"))
        await session.flush()
        return {"made": "u"}, 201

    response = await client.post("/test/idempotent-slow", json={}, headers={KEY: "slow"})
    assert await error_of(response, 409) == {KEY: ["was taken over by a retry of this request"]}
    assert response.headers["Retry-After"] == "1"
    assert await count(app, User) == 0

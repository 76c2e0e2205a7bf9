"""The service scaled out (tests/scaleout/conftest.py): two instances of two workers each
behind nginx, on PostgreSQL through PgBouncer in transaction pooling mode, with Redis.

- Under load, nothing fails through the pooler, and PgBouncer's few server connections carry
  every worker's pool.
- A slow statement is cancelled through the pooler at the statement timeout, on a read and on
  a write, and the timeout set for it stays with its transaction.
- A token or browser session revoked through one instance is refused by every worker of the
  other on its next request, whatever each worker's verified-token cache remembers.
- Login and registration limits count across instances (Redis); while Redis is away each
  worker counts on its own, nothing is a 500, the outage is logged once per worker, and the
  shared count comes back with Redis.
- A new tag shows on every worker of every instance within TAGS_CACHE_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from tests.live import Live
from tests.scaleout.conftest import (
    LOGIN_LIMIT,
    POOL_SIZE,
    REGISTER_LIMIT,
    SERVER_CONNECTIONS,
    STATEMENT_TIMEOUT,
    TAGS_CACHE,
    WORKERS,
    Cluster,
)

PASSWORD = "scale-out-pw-1"
# Slack for a busy two-core host between the server deciding and the client reading it.
SLACK = 0.5


def access_lines(server: Live) -> list[dict[str, Any]]:
    """The app's JSON access lines (one per request, with the answering worker's pid)."""
    lines = []
    for line in server.output().splitlines():
        if line.startswith("{") and '"service.access"' in line:
            lines.append(json.loads(line))
    return lines


def log_messages(server: Live, text_in_message: str) -> list[dict[str, Any]]:
    found = []
    for line in server.output().splitlines():
        if line.startswith("{") and text_in_message in line:
            found.append(json.loads(line))
    return found


def fresh(url: str) -> httpx.AsyncClient:
    """A client opening a new connection per request: the kernel hands each to either worker."""
    return httpx.AsyncClient(
        base_url=url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    )


def address() -> str:
    """A client address of its own (TRUSTED_PROXY_HOPS=1 takes X-Forwarded-For from a direct
    request), so each test has its own rate-limit counts."""
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


async def register(http: httpx.AsyncClient, name: str | None = None) -> dict[str, Any]:
    name = name or f"so-{uuid.uuid4().hex[:12]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    response = await http.post(
        "/api/users", json={"user": user}, headers={"X-Forwarded-For": address()}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["user"]
    return body


def token(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token {user['token']}"}


async def answered_by_every_worker(
    server: Live, http: httpx.AsyncClient, path: str, headers: dict[str, str], tag: str
) -> list[httpx.Response]:
    """Send the request on fresh connections until both workers have answered it (at most 60
    tries); the responses, in order."""
    responses: list[httpx.Response] = []
    ids: list[str] = []
    for n in range(60):
        rid = f"{tag}-{n}-{uuid.uuid4().hex[:6]}"
        ids.append(rid)
        responses.append(await http.get(path, headers={**headers, "X-Request-ID": rid}))
        if n % 4 == 3 and len(pids_of(server, ids)) >= WORKERS:
            return responses
    raise AssertionError(f"not answered by {WORKERS} workers: {pids_of(server, ids)}")


def statuses(responses: list[httpx.Response]) -> set[int]:
    return {response.status_code for response in responses}


def pids_of(server: Live, ids: list[str]) -> set[int]:
    wanted = set(ids)
    return {line["pid"] for line in access_lines(server) if line["request_id"] in wanted}


# PgBouncer: load, prepared statements, statement timeout.


async def test_under_load_through_pgbouncer_nothing_fails(cluster: Cluster):
    async with fresh(cluster.a.url) as direct:  # nginx would make every client one address
        writers = [await register(direct) for _ in range(4)]
    async with httpx.AsyncClient(base_url=cluster.url, timeout=15) as http:
        seed = await http.post(
            "/api/articles",
            json={"article": {"title": "seed", "description": "d", "body": "b"}},
            headers=token(writers[0]),
        )
        assert seed.status_code == 201, seed.text
        outcomes: Counter[str] = Counter()
        seconds: list[float] = []
        stop = asyncio.Event()

        async def call(method: str, path: str, user: dict[str, Any], **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                response = await http.request(method, path, headers=token(user), **kwargs)
            except httpx.HTTPError as exc:
                outcomes[f"{method} {path.split('/')[2]} {exc!r}"] += 1
                return None
            seconds.append(time.monotonic() - started)
            outcomes[f"{method} {response.status_code}"] += 1
            return response

        async def client(n: int) -> None:
            user = writers[n % len(writers)]
            while not stop.is_set():
                article = {
                    "title": f"load {uuid.uuid4().hex[:10]}",
                    "description": "under load",
                    "body": "through the pooler",
                    "tagList": [f"load{n % 3}", "pooled"],
                }
                made = await call("POST", "/api/articles", user, json={"article": article})
                slug = made.json()["article"]["slug"] if made and made.status_code == 201 else None
                await call("GET", "/api/articles?limit=10", user)
                await call("GET", "/api/articles/feed", user)
                await call("GET", "/api/tags", user)
                await call("GET", "/api/user", user)
                if slug:
                    await call("GET", f"/api/articles/{slug}", user)
                    comment = {"comment": {"body": "pooled comment"}}
                    await call("POST", f"/api/articles/{slug}/comments", user, json=comment)
                    await call("GET", f"/api/articles/{slug}/comments", user)
                    await call("POST", f"/api/articles/{slug}/favorite", user)

        async with asyncio.timeout(60):
            runners = [asyncio.create_task(client(n)) for n in range(12)]
            started = time.monotonic()
            peak = clients = 0
            while time.monotonic() - started < 4.0:
                servers, pools = await asyncio.gather(
                    asyncio.to_thread(cluster.pooler.show, "SERVERS"),
                    asyncio.to_thread(cluster.pooler.show, "CLIENTS"),
                )
                # Per database: PgBouncer pools the primary and the replica apart.
                per_database = Counter(row["database"] for row in servers)
                peak = max(peak, *per_database.values(), 0)
                # The app's clients only, not the console connections of these two SHOWs.
                app_clients = [row for row in pools if row.get("database") != "pgbouncer"]
                clients = max(clients, len(app_clients))
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*runners)
            elapsed = time.monotonic() - started

    bad = {key: n for key, n in outcomes.items() if key.split()[-1] not in ("200", "201")}
    assert not bad, bad
    total = sum(outcomes.values())
    assert total >= 100, outcomes
    # 2 instances x 2 workers x 3 connections to PgBouncer for the primary (as many again for
    # the replica), on at most 4 server connections to each.
    assert 1 <= peak <= SERVER_CONNECTIONS, peak
    assert SERVER_CONNECTIONS < clients <= 2 * WORKERS * POOL_SIZE * 2, clients
    served = {line["pid"] for line in access_lines(cluster.a) + access_lines(cluster.b)}
    assert len(served) == 2 * WORKERS, served  # every worker of both instances took part
    assert "prepared statement" not in cluster.pooler.output()
    quantiles = statistics.quantiles(seconds, n=100)
    print(
        f"\nthrough nginx + PgBouncer: {total} requests in {elapsed:.1f} s "
        f"({total / elapsed:.0f}/s, 12 clients), p50 {quantiles[49] * 1000:.0f} ms, "
        f"p99 {quantiles[98] * 1000:.0f} ms; {clients} service connections to PgBouncer "
        f"on at most {peak} connections to PostgreSQL"
    )


async def test_a_slow_statement_is_cancelled_through_the_pooler(cluster: Cluster):
    async with fresh(cluster.a.url) as http:
        author = await register(http)
        made = await http.post(
            "/api/articles",
            json={"article": {"title": "locked", "description": "d", "body": "b"}},
            headers=token(author),
        )
        assert made.status_code == 201, made.text
        slug = made.json()["article"]["slug"]
        comments = f"/api/articles/{slug}/comments"
        assert (await http.get(comments)).status_code == 200

        async def timed(method: str, **kwargs: Any) -> tuple[int, float, Any]:
            started = time.monotonic()
            response = await http.request(method, comments, headers=token(author), **kwargs)
            return response.status_code, time.monotonic() - started, response.json()

        # The table locked past the service's reach: its statements wait until cancelled.
        async with cluster.primary.connect() as holder:
            await holder.execute(text("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE"))
            read, write = await asyncio.gather(
                timed("GET"), timed("POST", json={"comment": {"body": "waits"}})
            )
            await holder.rollback()

    for status, waited, body in (read, write):
        assert status == 503, body
        assert set(body["errors"]) == {"service"}, body  # the database's answer, not the deadline
        # At the statement timeout (1 s), long before the request deadline (30 s).
        assert STATEMENT_TIMEOUT - 0.05 <= waited <= STATEMENT_TIMEOUT + SLACK + 0.5, waited
    print(
        f"\nstatement timeout 1 s through PgBouncer: read 503 at {read[1]:.2f} s, "
        f"write 503 at {write[1]:.2f} s"
    )

    # SET LOCAL ended with each transaction: no server connection keeps the app's timeout.
    dsn = cluster.pooler.url(str(cluster.primary.url.set(drivername="postgresql")))
    held = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(SERVER_CONNECTIONS)]
    try:
        for conn in held:
            await conn.execute("BEGIN")
        timeouts = {await conn.fetchval("SHOW statement_timeout") for conn in held}
        backends = {await conn.fetchval("SELECT pg_backend_pid()") for conn in held}
        for conn in held:
            await conn.execute("ROLLBACK")
    finally:
        for conn in held:
            await conn.close()
    assert timeouts == {"0"}, timeouts
    assert len(backends) == SERVER_CONNECTIONS  # every server connection PgBouncer has
    async with fresh(cluster.a.url) as http:
        assert (await http.get(comments)).status_code == 200


async def test_without_pgbouncer_requests_are_503_at_once_and_served_when_it_is_back(
    cluster: Cluster,
):
    title = f"no pooler {uuid.uuid4().hex[:8]}"
    article = {"article": {"title": title, "description": "d", "body": "b"}}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/articles", {}),
        ("GET", "/api/user", {}),
        ("POST", "/api/articles", {"json": article}),
    ]
    async with fresh(cluster.a.url) as direct, fresh(cluster.url) as balanced:
        user = await register(direct)
        cluster.pooler.stop()  # every connection to it closed, new ones refused
        try:
            answers: list[tuple[str, str, httpx.Response, float]] = []
            for where, http in (("direct", direct), ("nginx", balanced)):
                for method, path, kwargs in requests:
                    started = time.monotonic()
                    response = await http.request(method, path, headers=token(user), **kwargs)
                    answers.append((where, method, response, time.monotonic() - started))
            ready = await direct.get("/readyz")
        finally:
            cluster.pooler.start()
        restarted = time.monotonic()
        back: dict[str, float] = {}
        for where, http in (("direct", direct), ("nginx", balanced)):
            for _ in range(100):
                if (await http.get("/api/articles")).status_code == 200:
                    back[where] = time.monotonic() - restarted
                    break
                await asyncio.sleep(0.1)
    async with cluster.primary.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM articles WHERE title = :title"), {"title": title}
        )

    print(
        "\nPgBouncer stopped: "
        + ", ".join(
            f"{where} {method} {response.status_code} in {seconds * 1000:.0f} ms"
            for where, method, response, seconds in answers
        )
        + f"; served again {', '.join(f'{k} {v:.2f} s' for k, v in back.items())} after restart"
    )
    for where, method, response, seconds in answers:
        # The service's answer to an unreachable database, at once: a refused connection.
        assert response.status_code == 503, (where, method, response.text)
        assert set(response.json()["errors"]) == {"service"}, response.text
        assert int(response.headers["Retry-After"]) >= 1
        assert seconds < 2.0, (where, method, seconds)
    assert ready.status_code == 503, ready.text
    assert stored == 0  # the write answered 503 is not there
    assert set(back) == {"direct", "nginx"}, back  # served again within 10 s


# State shared across workers and instances.


async def test_revocation_through_one_instance_reaches_every_worker_of_the_other(
    cluster: Cluster,
):
    async with fresh(cluster.a.url) as on_a, fresh(cluster.b.url) as on_b:
        user = await register(on_a)
        # A browser session, signed in through instance B's login page.
        browser = httpx.AsyncClient(base_url=cluster.b.url, timeout=10)
        async with browser:
            page = await browser.get("/login")
            csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed_in = await browser.post(
                "/login",
                data={"email": user["email"], "password": PASSWORD, "csrf_token": csrf},
            )
            assert signed_in.status_code == 303, signed_in.text
            cookie = {"Cookie": f"conduit_session={browser.cookies['conduit_session']}"}

        # Every worker of both instances has verified (and remembered) the token, and read
        # the session.
        for server, http in ((cluster.a, on_a), (cluster.b, on_b)):
            for credentials, tag in ((token(user), "warm-token"), (cookie, "warm-cookie")):
                answers = await answered_by_every_worker(
                    server, http, "/api/user", credentials, tag
                )
                assert statuses(answers) == {200}

        revoked = await on_a.post("/api/user/logout-all", headers=token(user))
        assert revoked.status_code == 204, revoked.text
        answered = time.monotonic()
        first = await on_b.get("/api/user", headers=token(user))
        first_after = time.monotonic() - answered
        assert first.status_code == 401, first.text
        # From the revoking answer on, every worker of every instance refuses both.
        for server, http in ((cluster.b, on_b), (cluster.a, on_a)):
            for credentials, tag in ((token(user), "after-token"), (cookie, "after-cookie")):
                answers = await answered_by_every_worker(
                    server, http, "/api/user", credentials, tag
                )
                assert statuses(answers) == {401}
    print(f"\nrevoked on A; B's next answer 401, {first_after * 1000:.0f} ms after A's 204")


async def test_login_and_registration_limits_count_across_instances(cluster: Cluster):
    async with fresh(cluster.a.url) as on_a, fresh(cluster.b.url) as on_b:
        user = await register(on_a)
        where = {"X-Forwarded-For": address()}
        wrong = {"user": {"email": user["email"], "password": "not-the-password"}}
        for _ in range(LOGIN_LIMIT):  # spread over A's two workers
            assert (
                await on_a.post("/api/users/login", json=wrong, headers=where)
            ).status_code == 401
        refused = await on_b.post("/api/users/login", json=wrong, headers=where)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1

        where = {"X-Forwarded-For": address()}
        taken = {
            "user": {"username": user["username"], "email": "x@example.com", "password": PASSWORD}
        }
        for _ in range(REGISTER_LIMIT):
            assert (await on_b.post("/api/users", json=taken, headers=where)).status_code == 409
        refused = await on_a.post("/api/users", json=taken, headers=where)
        assert refused.status_code == 429, refused.text


async def test_without_redis_each_worker_counts_alone_and_nothing_fails(cluster: Cluster):
    began = len(log_messages(cluster.a, "rate limit store unavailable")) + len(
        log_messages(cluster.b, "rate limit store unavailable")
    )
    outages_before = [
        len(log_messages(server, "rate limit store unavailable"))
        for server in (cluster.a, cluster.b)
    ]
    recoveries_before = [
        len(log_messages(server, "rate limit store answers again"))
        for server in (cluster.a, cluster.b)
    ]
    async with fresh(cluster.a.url) as on_a, fresh(cluster.b.url) as on_b:
        user = await register(on_a)
        wrong = {"user": {"email": user["email"], "password": "not-the-password"}}
        cluster.redis.refuse()  # Redis refuses connections ...
        cluster.redis.cut()  # ... and the open ones are reset
        try:
            where = {"X-Forwarded-For": address()}
            seen: Counter[int] = Counter()
            for http in (on_a, on_b) * 8:
                started = time.monotonic()
                response = await http.post("/api/users/login", json=wrong, headers=where)
                seen[response.status_code] += 1
                assert time.monotonic() - started < 1.5  # a refused connection costs nothing
            # Still limited, per worker: at most LOGIN_LIMIT failures on each of the four.
            assert set(seen) <= {401, 429}, seen
            assert seen[401] <= LOGIN_LIMIT * 2 * WORKERS, seen
            assert seen[429] >= 16 - LOGIN_LIMIT * 2 * WORKERS
            new = {"X-Forwarded-For": address()}
            name = f"nr-{uuid.uuid4().hex[:10]}"
            body = {
                "user": {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            }
            assert (await on_b.post("/api/users", json=body, headers=new)).status_code == 201
        finally:
            cluster.redis.restore()
        for server in (cluster.a, cluster.b):
            lines = log_messages(server, "rate limit store unavailable")
            # Once per worker that met the outage, not once per attempt.
            assert 1 <= len({line["pid"] for line in lines}) <= WORKERS
        after = len(log_messages(cluster.a, "rate limit store unavailable")) + len(
            log_messages(cluster.b, "rate limit store unavailable")
        )
        assert after - began <= 2 * WORKERS, after - began

        # Redis is back. Each worker that counted alone asks it again on a request at least
        # a second after its last failed call: send some (a throwaway address, so no count
        # below is touched) until every one of them has said it counts there again, so what
        # follows does not depend on which worker the kernel hands each connection.
        servers = (cluster.a, cluster.b)
        down = {
            line["pid"]
            for server, before in zip(servers, outages_before, strict=True)
            for line in log_messages(server, "rate limit store unavailable")[before:]
        }
        async with asyncio.timeout(30):
            while not down <= {
                line["pid"]
                for server, before in zip(servers, recoveries_before, strict=True)
                for line in log_messages(server, "rate limit store answers again")[before:]
            }:
                await asyncio.sleep(0.3)
                for http in (on_a, on_b):
                    probe = {"X-Forwarded-For": address()}
                    await http.post("/api/users/login", json=wrong, headers=probe)

        # The count is shared again: three failures through one instance, the fourth through
        # the other is refused. A Redis call slower than its 0.5 s timeout (a busy host: the
        # fault proxy runs in the tests' process) counts that one attempt in memory, so the
        # check gets three tries, each with its own address; a count that is not shared
        # fails all three.
        refusals = []
        for _ in range(3):
            where = {"X-Forwarded-For": address()}
            for _ in range(LOGIN_LIMIT):
                assert (
                    await on_b.post("/api/users/login", json=wrong, headers=where)
                ).status_code == 401
            refused = await on_a.post("/api/users/login", json=wrong, headers=where)
            refusals.append(refused.status_code)
            if refused.status_code == 429:
                break
        assert refusals[-1] == 429, refusals


async def test_a_new_tag_shows_everywhere_within_the_cache_time(cluster: Cluster):
    tag = f"fresh{uuid.uuid4().hex[:8]}"
    async with fresh(cluster.a.url) as on_a, fresh(cluster.b.url) as on_b:
        author = await register(on_a)
        # Every worker's cache filled before the tag exists.
        for server, http in ((cluster.a, on_a), (cluster.b, on_b)):
            answers = await answered_by_every_worker(server, http, "/api/tags", {}, "tags-before")
            assert not any(tag in answer.json()["tags"] for answer in answers)
        made = await on_a.post(
            "/api/articles",
            json={"article": {"title": tag, "description": "d", "body": "b", "tagList": [tag]}},
            headers=token(author),
        )
        assert made.status_code == 201, made.text
        await asyncio.sleep(TAGS_CACHE)
        # Past the cache time, every worker of every instance shows it.
        for server, http in ((cluster.a, on_a), (cluster.b, on_b)):
            answers = await answered_by_every_worker(server, http, "/api/tags", {}, "tags-after")
            assert all(tag in answer.json()["tags"] for answer in answers)

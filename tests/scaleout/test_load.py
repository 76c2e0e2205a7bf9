"""A load test across the whole shape (issue 19, item 4): 200 clients of mixed reads and
writes through nginx, two instances of two workers, PgBouncer and PostgreSQL, for a bounded
time (LOAD_SECONDS, 15 s by default; set it for a longer run).

Nothing may fail: no 5xx (nor one that nginx hid by passing the request to the other
instance), no connection error or timeout, no status but the one each request should get,
no answer contradicting what the same user did before. Afterwards the database, read
directly on the primary, must hold exactly what the clients were told: every user, article,
comment, favourite and follow answered as made is there, nothing answered as deleted or
undone is, nothing else is, and every count the service keeps (an article's favourites, a
tag's articles) and serves equals the rows it counts.

The stack is the folder's (tests/scaleout/conftest.py), sized there so that 200 clients
queue rather than being shed: 12 requests in the database at once and a 30 s deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.live import ROOT
from tests.scaleout.clients import Ledger, run_tag, user_prefix, vocabulary
from tests.scaleout.conftest import (
    DEADLINE,
    INSTANCES,
    POOL_SIZE,
    SERVER_CONNECTIONS,
    WORKERS,
    Cluster,
)

CLIENTS = 200
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "15"))
AUTHORS = 10  # publish two articles each before the crowd comes
# Above the deadline: a slow answer is the service's 503, not a client giving up.
CLIENT_TIMEOUT = 2 * DEADLINE
# Every kind of write must have happened (a run that wrote nothing proves nothing).
WRITES = [
    "POST /api/users 201",
    "POST /api/users/login 200",
    "POST /api/articles 201",
    "PUT /api/articles/:slug 200",
    "POST /api/articles/:slug/comments 201",
    "DELETE /api/articles/:slug/comments/:id 204",
    "POST /api/articles/:slug/favorite 200",
    "DELETE /api/articles/:slug/favorite 200",
    "POST /api/profiles/:username/follow 200",
    "DELETE /api/profiles/:username/follow 200",
]


async def test_200_clients_of_reads_and_writes_through_the_whole_shape(
    cluster: Cluster, tmp_path: Path
):
    run = uuid.uuid4().hex[:6]
    nginx_log = cluster.tmp / "nginx-error.log"
    nginx_log_before = nginx_log.stat().st_size
    redis_before = redis_outages(cluster)
    replica_before = await replica_transactions(cluster)
    told = tmp_path / "ledger.json"
    argv = [sys.executable, "-m", "tests.scaleout.clients", cluster.url, run, str(told)]
    argv += ["--clients", str(CLIENTS), "--seconds", str(LOAD_SECONDS)]
    argv += ["--authors", str(AUTHORS), "--timeout", str(CLIENT_TIMEOUT)]
    stop = asyncio.Event()
    watching = asyncio.create_task(watch_pgbouncer(cluster, stop))
    with (tmp_path / "clients.log").open("wb") as log:
        clients = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=log, stderr=log)
        try:
            # Bounded: each client's last request starts before the time is up and is answered
            # by its deadline (the sessions, at 3 requests a client, fit in it at 20/s).
            async with asyncio.timeout(LOAD_SECONDS + 2 * CLIENT_TIMEOUT + 30):
                await clients.wait()
        finally:
            if clients.returncode is None:
                clients.kill()
                await clients.wait()
            stop.set()
            servers, service = await watching
    assert clients.returncode == 0, (tmp_path / "clients.log").read_text()
    ledger = Ledger.from_json(told.read_text())
    elapsed = ledger.elapsed

    stored = await read_database(cluster.primary, run)
    total = sum(ledger.answers.values())
    quantiles = statistics.quantiles(ledger.seconds, n=100) if len(ledger.seconds) > 1 else [0]
    print(
        f"\nwhole shape, {CLIENTS} clients through nginx, {INSTANCES} instances x {WORKERS} "
        f"workers, PgBouncer ({SERVER_CONNECTIONS} server connections): {total} requests in "
        f"{elapsed:.1f} s ({total / elapsed:.0f}/s), p50 {quantiles[49] * 1000:.0f} ms, "
        f"p99 {quantiles[-1] * 1000:.0f} ms, max {max(ledger.seconds) * 1000:.0f} ms; "
        f"statuses {dict(sorted(ledger.statuses.items()))}; {len(ledger.failures)} failures; "
        f"at most {servers} server connections to PostgreSQL and {service} service "
        f"connections to PgBouncer; stored {len(stored['articles'])} articles, "
        f"{len(stored['comments'])} comments ({len(ledger.deleted)} deleted), "
        f"{len(stored['favorites'])} favourites, {len(stored['follows'])} follows; "
        f"Redis unavailable to {redis_outages(cluster) - redis_before} workers"
    )

    # Nothing failed, as the clients saw it ...
    assert not ledger.failures, f"{len(ledger.failures)} failures: {ledger.failures[:20]}"
    assert set(ledger.statuses) <= {200, 201, 204}, ledger.statuses
    assert len(ledger.users) == CLIENTS, len(ledger.users)
    missing = [write for write in WRITES if not ledger.answers[write]]
    assert not missing, f"never happened: {missing}; {ledger.answers}"
    # ... nor behind nginx: every request answered once by an instance, none a 5xx there.
    served = served_statuses(cluster, run)
    assert not {rid: s for rid, s in served.items() if any(code >= 500 for code in s)}
    assert not {rid: s for rid, s in served.items() if len(s) > 1}, "passed on by nginx"
    assert ledger.request_ids <= set(served), ledger.request_ids - set(served)
    errors = nginx_log.read_bytes()[nginx_log_before:].decode(errors="replace")
    assert not [line for line in errors.splitlines() if "[warn]" not in line], errors
    # The pooler carried it all on its few server connections.
    assert 1 <= servers <= SERVER_CONNECTIONS, servers
    # Each worker pools POOL_SIZE connections to the primary and as many to the replica.
    assert service <= INSTANCES * WORKERS * POOL_SIZE * 2, service

    # Reads went to the replica (each one a transaction there, behind PgBouncer), not all to
    # the primary. How many depends on how fast the clients go: every client is signed in and
    # about a third of its requests are writes, and its reads within READ_YOUR_WRITES_SECONDS
    # of its last write go to the primary. At 32 requests a second half the reads ended on
    # the replica (364 of 718 requests); at 215 a second each client wrote every few seconds,
    # and 220 of 3,380 did. The routing itself is tested exactly in tests/replica.
    replica_reads = await replica_transactions(cluster) - replica_before
    print(f"transactions on the replica: {replica_reads}")
    assert replica_reads >= 50, (replica_reads, total)

    differences = compare(stored, ledger)
    # What the service serves next may come from the replica: once it has replayed the run.
    await replayed(cluster)
    differences += await compare_served(cluster, run, stored, ledger)
    assert not differences, "\n".join(differences)


async def replica_transactions(cluster: Cluster) -> int:
    """Transactions ended on the replica's copy of the database so far (its own statistics:
    a hot standby counts what runs on it)."""
    assert cluster.databases.read is not None
    engine = create_async_engine(cluster.databases.read, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                    " WHERE datname = current_database()"
                )
            )
            # Backends report theirs at most once a second while busy: the last second of
            # the run may be missing, which the caller's bound allows for.
            return int(ended or 0)
    finally:
        await engine.dispose()


async def replayed(cluster: Cluster, within: float = 30.0) -> None:
    """Wait until the replica has replayed everything the primary had written when called."""
    assert cluster.databases.read is not None
    async with cluster.primary.connect() as conn:
        target = await conn.scalar(text("SELECT pg_current_wal_flush_lsn()::text"))
    engine = create_async_engine(cluster.databases.read, poolclass=NullPool)
    try:
        async with asyncio.timeout(within), engine.connect() as conn:
            check = text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:target AS text) AS pg_lsn)")
            while True:
                if await conn.scalar(check, {"target": target}):
                    return
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def watch_pgbouncer(cluster: Cluster, stop: asyncio.Event) -> tuple[int, int]:
    """The most server connections PgBouncer held to the primary, and the most service
    connections to it, while the load ran (sampled every half second)."""
    database = make_url(cluster.databases.primary).database
    servers = service = 0
    while not stop.is_set():
        by_database, clients = await asyncio.gather(
            asyncio.to_thread(cluster.server_connections),
            asyncio.to_thread(cluster.service_connections),
        )
        servers = max(servers, by_database[str(database)])
        service = max(service, clients)
        await asyncio.sleep(0.5)
    return servers, service


def redis_outages(cluster: Cluster) -> int:
    """Workers that logged losing Redis (each logs it once per outage)."""
    return sum(
        server.output().count("rate limit store unavailable") for server in (cluster.a, cluster.b)
    )


def served_statuses(cluster: Cluster, run: str) -> dict[str, list[int]]:
    """The statuses each instance's access log gives this run's request ids."""
    found: dict[str, list[int]] = {}
    for server in (cluster.a, cluster.b):
        for line in server.output().splitlines():
            if line.startswith("{") and '"service.access"' in line:
                entry = json.loads(line)
                if entry["request_id"].startswith(f"{run}-"):
                    found.setdefault(entry["request_id"], []).append(entry["status"])
    return found


# The database, read on the primary: this run's rows only (its users' names share a prefix).

QUERIES = {
    "users": "SELECT username FROM users WHERE username LIKE :users",
    "articles": """
        SELECT a.slug, u.username FROM articles a JOIN users u ON u.id = a.author_id
        WHERE u.username LIKE :users""",
    "contents": """
        SELECT a.slug, a.description, a.body FROM articles a JOIN users u ON u.id = a.author_id
        WHERE u.username LIKE :users""",
    "favorites_count": """
        SELECT a.slug, a.favorites_count FROM articles a JOIN users u ON u.id = a.author_id
        WHERE u.username LIKE :users""",
    "favorite_rows": """
        SELECT a.slug, count(f.user_id) FROM articles a JOIN users u ON u.id = a.author_id
        LEFT JOIN favorites f ON f.article_id = a.id
        WHERE u.username LIKE :users GROUP BY a.slug""",
    "tags": """
        SELECT a.slug, t.name FROM article_tags l JOIN articles a ON a.id = l.article_id
        JOIN tags t ON t.id = l.tag_id JOIN users u ON u.id = a.author_id
        WHERE u.username LIKE :users""",
    "tag_counts": """
        SELECT t.name, t.articles_count, count(l.article_id) FROM tags t
        LEFT JOIN article_tags l ON l.tag_id = t.id
        WHERE t.name = ANY(:tags) GROUP BY t.name, t.articles_count""",
    "author_totals": """
        SELECT u.username, c.value FROM users u
        JOIN counters c ON c.name = 'articles_by:' || u.id AND c.shard = 0
        WHERE u.username LIKE :users""",
    "comments": """
        SELECT c.id, a.slug, u.username FROM comments c JOIN articles a ON a.id = c.article_id
        JOIN users u ON u.id = c.author_id WHERE u.username LIKE :users""",
    "favorites": """
        SELECT u.username, a.slug FROM favorites f JOIN users u ON u.id = f.user_id
        JOIN articles a ON a.id = f.article_id WHERE u.username LIKE :users""",
    "follows": """
        SELECT a.username, b.username FROM follows f JOIN users a ON a.id = f.follower_id
        JOIN users b ON b.id = f.followed_id WHERE a.username LIKE :users""",
}


async def read_database(primary: AsyncEngine, run: str) -> dict[str, Any]:
    params = {"users": f"{user_prefix(run)}%", "tags": [run_tag(run), *vocabulary(run)]}
    rows: dict[str, list[Any]] = {}
    async with primary.connect() as conn:
        for name, sql in QUERIES.items():
            rows[name] = [tuple(row) for row in await conn.execute(text(sql), params)]
    tags: dict[str, set[str]] = {}
    for slug, tag in rows["tags"]:
        tags.setdefault(slug, set()).add(tag)
    return {
        "users": {username for (username,) in rows["users"]},
        "articles": dict(rows["articles"]),
        "contents": {slug: (description, body) for slug, description, body in rows["contents"]},
        "favorites_count": dict(rows["favorites_count"]),
        "favorite_rows": dict(rows["favorite_rows"]),
        "tags": {slug: frozenset(names) for slug, names in tags.items()},
        "tag_counts": {name: kept for name, kept, _ in rows["tag_counts"]},
        "tag_links": {name: links for name, _, links in rows["tag_counts"]},
        # Authors whose articles were all deleted keep a row at 0.
        "author_totals": {user: kept for user, kept in rows["author_totals"] if kept},
        "comments": {comment_id: (slug, user) for comment_id, slug, user in rows["comments"]},
        "favorites": set(rows["favorites"]),
        "follows": set(rows["follows"]),
    }


def compare(stored: Mapping[str, Any], ledger: Ledger) -> list[str]:
    """Where the database and what the clients were told disagree."""
    articles_per_author = Counter(stored["articles"].values())
    told_per_author = Counter(ledger.articles.values())
    live_comments = {k: v for k, v in ledger.comments.items() if k not in ledger.deleted}
    return [
        *differ("users", stored["users"], ledger.users),
        *differ("articles per author", articles_per_author, told_per_author),
        *differ("articles", stored["articles"], ledger.articles),
        *differ("article contents", stored["contents"], ledger.contents),
        *differ("article tags", stored["tags"], ledger.tags),
        *differ("comments", stored["comments"], live_comments),
        *differ("favourites", stored["favorites"], on(ledger.favorites)),
        *differ("follows", stored["follows"], on(ledger.follows)),
        # The counts the service keeps beside the rows they count.
        *differ("favoritesCount kept", stored["favorites_count"], stored["favorite_rows"]),
        *differ("tag articles_count kept", stored["tag_counts"], stored["tag_links"]),
        *differ("author totals kept (the feed's)", stored["author_totals"], articles_per_author),
    ]


async def compare_served(
    cluster: Cluster, run: str, stored: Mapping[str, Any], ledger: Ledger
) -> list[str]:
    """The run's articles as the service serves them now, through nginx: all of them, each
    with as many favourites as it has rows and the tags its author was last told."""
    served: dict[str, dict[str, Any]] = {}
    counted: set[int] = set()
    async with httpx.AsyncClient(base_url=cluster.url, timeout=CLIENT_TIMEOUT) as http:
        offset = 0
        while True:
            page = await http.get(
                "/api/articles", params={"tag": run_tag(run), "limit": 100, "offset": offset}
            )
            assert page.status_code == 200, page.text
            body = page.json()
            counted.add(body["articlesCount"])
            served.update({article["slug"]: article for article in body["articles"]})
            offset += 100
            if offset >= body["articlesCount"]:
                break
    told = ("served", "told")
    return [
        *differ("articlesCount", counted, {len(ledger.articles)}, told),
        *differ("articles", set(served), set(ledger.articles), told),
        *differ(
            "favoritesCount",
            {slug: article["favoritesCount"] for slug, article in served.items()},
            stored["favorite_rows"],
            ("served", "in the database"),
        ),
        *differ(
            "tags",
            {slug: frozenset(article["tagList"]) for slug, article in served.items()},
            ledger.tags,
            told,
        ),
    ]


def on(states: Mapping[tuple[str, str], bool]) -> set[tuple[str, str]]:
    return {pair for pair, state in states.items() if state}


def differ(
    what: str, stored: Any, told: Any, sides: tuple[str, str] = ("in the database", "told")
) -> list[str]:
    """One line naming what only one side has, and what they hold differently (a few of each)."""
    if stored == told:
        return []
    if isinstance(stored, Mapping) and isinstance(told, Mapping):
        changed = sorted(
            (key, stored[key], told[key])
            for key in stored.keys() & told.keys()
            if stored[key] != told[key]
        )
        only_stored, only_told = stored.keys() - told.keys(), told.keys() - stored.keys()
    else:
        changed, only_stored, only_told = [], stored - told, told - stored
    left, right = sides
    return [
        f"{what}: {len(only_stored)} only {left} {sorted(only_stored)[:5]}, "
        f"{len(only_told)} only {right} {sorted(only_told)[:5]}, "
        f"{len(changed)} differ (key, {left}, {right}) {changed[:5]}"
    ]

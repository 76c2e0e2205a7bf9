"""The stack limit's answers against the service's, byte for byte, on the seeded data.

A ratio to the stack limit means something only if both do the same work and send the same
bytes: each URL below is fetched from both, and status, content type and body must be equal.
The URLs reach every statement the twin runs: first and deep pages, a page past the end (the
total alone), by tag, the feed, single articles (one the caller favourited), profiles (one the
caller follows, the caller's own), the current user, anonymous and signed in.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from dataclasses import dataclass

import asyncpg

from bench.data import BenchData, DataSet

CONTEXT = 60  # bytes shown either side of the first difference


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Probe:
    path: str
    token: str | None = None

    def label(self) -> str:
        return self.path + (" (signed in)" if self.token else "")


def fetch(base_url: str, probe: Probe) -> Answer:
    headers = {"Authorization": f"Token {probe.token}"} if probe.token else {}
    request = urllib.request.Request(base_url + probe.path, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return Answer(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers["Content-Type"], error.read())


def first_difference(a: bytes, b: bytes) -> int | None:
    """The offset of the first byte that differs (or where the shorter ends); None if equal."""
    if a == b:
        return None
    for offset, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return offset
    return min(len(a), len(b))


def describe(probe: Probe, service: Answer, twin: Answer) -> str | None:
    """What differs, or None: status, content type, or the body from its first differing byte."""
    if service.status != twin.status:
        return f"{probe.label()}: status {service.status} (service) != {twin.status} (stack limit)"
    if service.content_type != twin.content_type:
        return (
            f"{probe.label()}: content type {service.content_type!r} (service) != "
            f"{twin.content_type!r} (stack limit)"
        )
    offset = first_difference(service.body, twin.body)
    if offset is None:
        return None
    start = max(0, offset - CONTEXT)
    return (
        f"{probe.label()}: bodies differ at byte {offset} "
        f"(lengths {len(service.body)} and {len(twin.body)})\n"
        f"  service:     ...{service.body[start : offset + CONTEXT]!r}\n"
        f"  stack limit: ...{twin.body[start : offset + CONTEXT]!r}"
    )


async def _personal(dsn: str, user_id: int) -> tuple[list[str], list[str]]:
    """Slugs the user favourited and usernames they follow: probes where the flags are true."""
    conn = await asyncpg.connect(dsn)
    try:
        slugs = await conn.fetch(
            "SELECT a.slug FROM favorites f JOIN articles a ON a.id = f.article_id "
            "WHERE f.user_id = $1 ORDER BY a.id LIMIT 2",
            user_id,
        )
        names = await conn.fetch(
            "SELECT u.username FROM follows f JOIN users u ON u.id = f.followed_id "
            "WHERE f.follower_id = $1 ORDER BY u.id LIMIT 2",
            user_id,
        )
        return [r["slug"] for r in slugs], [r["username"] for r in names]
    finally:
        await conn.close()


def probes(data: BenchData, spec: DataSet, dsn: str) -> list[Probe]:
    """The URLs both must answer alike; `dsn` finds the first user's favourites and follows."""
    me, other = data.tokens[0], data.tokens[1]  # users 1 and 2
    favourited, followed = asyncio.run(_personal(dsn, 1))
    deep = min(10_000, spec.articles - 20)
    tag, rare = data.tags[0], data.tags[-1]
    found = [
        Probe("/api/articles?limit=20"),
        Probe("/api/articles?limit=20", me),
        Probe(f"/api/articles?limit=20&offset={deep}"),
        Probe(f"/api/articles?limit=20&offset={deep}", other),
        Probe(f"/api/articles?limit=20&offset={spec.articles + 5}"),  # past the end
        Probe("/api/articles?limit=5&offset=3"),
        Probe(f"/api/articles?limit=20&tag={tag}"),
        Probe(f"/api/articles?limit=20&tag={rare}", me),
        Probe(f"/api/articles?limit=20&offset={spec.articles}&tag={tag}"),
        Probe("/api/articles/feed?limit=20", me),
        Probe("/api/articles/feed?limit=20", other),
        Probe("/api/articles/feed?limit=10&offset=5", me),
        Probe("/api/articles/feed?limit=20&offset=100000", me),  # past the end
        *(Probe(f"/api/articles/{slug}") for slug in data.slugs[:3]),
        Probe(f"/api/articles/{data.slugs[3]}", me),
        *(Probe(f"/api/articles/{slug}", me) for slug in favourited),
        Probe(f"/api/profiles/{data.usernames[1]}"),
        Probe(f"/api/profiles/{data.usernames[1]}", me),
        Probe(f"/api/profiles/{data.usernames[0]}", me),
        *(Probe(f"/api/profiles/{name}", me) for name in followed),
        Probe("/api/user", me),
        Probe("/api/user", other),
    ]
    return found


def compare(service_url: str, twin_url: str, checks: list[Probe]) -> list[str]:
    """Every difference found; an empty list when all answers are equal."""
    differences = []
    for probe in checks:
        service, twin = _pair(service_url, twin_url, probe)
        difference = describe(probe, service, twin)
        if difference is not None:
            differences.append(difference)
    return differences


def _pair(service_url: str, twin_url: str, probe: Probe, tries: int = 5) -> tuple[Answer, Answer]:
    """The two answers; a renewed token holds the second it was issued, so the twin is asked
    between two equal answers of the service (the same second), at most `tries` times."""
    for _ in range(tries):
        before = fetch(service_url, probe)
        twin = fetch(twin_url, probe)
        after = fetch(service_url, probe)
        if before == after:
            return before, twin
    return before, twin

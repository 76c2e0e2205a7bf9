"""Bench data: the data sets, a deterministic generator, seeding by COPY, the wrk data file.

Rows are generated from a fixed random seed and loaded with PostgreSQL's COPY through asyncpg,
so the large set (about 1.3 million rows) loads in seconds and every run sees the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from tqdm import tqdm

from service.crypto import PasswordHasher, TokenCodec
from service.daos.counters import ARTICLES_BY
from service.services.tags import tag_key

PASSWORD = "bench-password-1"  # every bench user's; the login scenario signs in with it
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=600)


@dataclass(frozen=True)
class DataSet:
    name: str
    users: int
    articles: int
    tags: int
    comments: int
    favorites: int
    follows: int  # total follow rows


DATASETS = {
    "small": DataSet(
        "small", users=50, articles=1_000, tags=30, comments=3_000, favorites=2_000, follows=50 * 5
    ),
    "large": DataSet(
        "large",
        users=10_000,
        articles=100_000,
        tags=500,
        comments=300_000,
        favorites=500_000,
        follows=200_000,
    ),
}


@dataclass
class BenchData:
    """What the load scripts need: credentials and names that exist in the seeded database."""

    password: str
    emails: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def write_lua(self, path: Path) -> None:
        def table(name: str, values: list[str]) -> str:
            items = ",".join(f'"{v}"' for v in values)
            return f"{name} = {{{items}}}\n"

        path.write_text(
            f'password = "{self.password}"\n'
            + table("emails", self.emails)
            + table("usernames", self.usernames)
            + table("tokens", self.tokens)
            + table("slugs", self.slugs)
            + table("tags", self.tags)
        )


class Generator:
    """Rows for every table, deterministic for a data set."""

    def __init__(self, spec: DataSet, password_hash: str) -> None:
        self.spec = spec
        self.rng = random.Random(f"conduit-bench-{spec.name}")
        self.password_hash = password_hash
        self.article_times: list[datetime] = []
        self.favorite_counts = [0] * (spec.articles + 1)

    def when(self, after: datetime | None = None) -> datetime:
        start = after or EPOCH
        end = EPOCH + SPAN
        return start + (end - start) * self.rng.random()

    def users(self) -> Iterator[tuple[object, ...]]:
        for i in range(1, self.spec.users + 1):
            name = f"user{i}"
            created = EPOCH
            yield (
                i,
                name,
                name,
                f"user{i}@bench.example",
                self.password_hash,
                f"Bio of {name}",
                None,
                "user",
                created,
                created,
            )

    def tags(self) -> Iterator[tuple[object, ...]]:
        for i in range(1, self.spec.tags + 1):
            yield (i, f"tag{i}", tag_key(f"tag{i}"))

    def articles(self) -> Iterator[tuple[object, ...]]:
        for i in range(1, self.spec.articles + 1):
            created = self.when()
            self.article_times.append(created)
            author = self.rng.randint(1, self.spec.users)
            yield (
                i,
                f"article-{i}",
                f"Article {i}",
                f"Description of article {i}",
                f"Body of article {i}. " * 20,
                author,
                created,
                created,
            )

    def article_tags(self) -> Iterator[tuple[object, ...]]:
        # Zipf-like popularity: a few tags are on many articles, most on few.
        weights = [1 / (rank + 1) for rank in range(self.spec.tags)]
        tag_ids = list(range(1, self.spec.tags + 1))
        for article in range(1, self.spec.articles + 1):
            count = self.rng.randint(0, 3)
            created = self.article_times[article - 1]
            for tag in sorted(set(self.rng.choices(tag_ids, weights, k=count))):
                yield (article, tag, created)

    def comments(self) -> Iterator[tuple[object, ...]]:
        for i in range(1, self.spec.comments + 1):
            article = self.rng.randint(1, self.spec.articles)
            created = self.when(self.article_times[article - 1])
            yield (
                i,
                article,
                self.rng.randint(1, self.spec.users),
                f"Comment {i}",
                created,
                created,
            )

    def favorites(self) -> Iterator[tuple[object, ...]]:
        seen: set[tuple[int, int]] = set()
        while len(seen) < self.spec.favorites:
            pair = (self.rng.randint(1, self.spec.users), self.rng.randint(1, self.spec.articles))
            if pair not in seen:
                seen.add(pair)
                self.favorite_counts[pair[1]] += 1
                yield (*pair, EPOCH)

    def follows(self) -> Iterator[tuple[object, ...]]:
        per_user, extra = divmod(self.spec.follows, self.spec.users)
        for follower in range(1, self.spec.users + 1):
            wanted = per_user + (1 if follower <= extra else 0)
            chosen: set[int] = set()
            while len(chosen) < wanted:
                followed = self.rng.randint(1, self.spec.users)
                if followed != follower:
                    chosen.add(followed)
            for followed in sorted(chosen):
                yield (follower, followed, EPOCH)


# table: (columns, generator method); order respects foreign keys.
TABLES: list[tuple[str, tuple[str, ...], str, str]] = [
    (
        "users",
        (
            "id",
            "username",
            "username_key",
            "email",
            "password_hash",
            "bio",
            "image",
            "role",
            "created_at",
            "updated_at",
        ),
        "users",
        "users",
    ),
    ("tags", ("id", "name", "name_key"), "tags", "tags"),
    (
        "articles",
        ("id", "slug", "title", "description", "body", "author_id", "created_at", "updated_at"),
        "articles",
        "articles",
    ),
    ("article_tags", ("article_id", "tag_id", "created_at"), "article_tags", "article tags"),
    (
        "comments",
        ("id", "article_id", "author_id", "body", "created_at", "updated_at"),
        "comments",
        "comments",
    ),
    ("favorites", ("user_id", "article_id", "created_at"), "favorites", "favorites"),
    ("follows", ("follower_id", "followed_id", "created_at"), "follows", "follows"),
]


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[tuple[object, ...]],
    bar: tqdm,
) -> None:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 20_000:
            await conn.copy_records_to_table(table, records=batch, columns=columns)
            bar.update(len(batch))
            batch.clear()
    if batch:
        await conn.copy_records_to_table(table, records=batch, columns=columns)
        bar.update(len(batch))


async def seed(dsn: str, spec: DataSet, password_hash: str) -> None:
    """Load the data set into an empty, migrated database."""
    gen = Generator(spec, password_hash)
    conn = await asyncpg.connect(dsn)
    try:
        total = (
            spec.users
            + spec.tags
            + spec.articles
            + spec.comments
            + spec.favorites
            + spec.follows
            + int(spec.articles * 1.6)
        )
        with tqdm(total=total, unit="rows", desc=f"seed {spec.name}", unit_scale=True) as bar:
            async with conn.transaction():
                for table, columns, method, _label in TABLES:
                    await _copy(conn, table, columns, getattr(gen, method)(), bar)
                await _finish(conn, gen)
        # What autovacuum gives a live database: statistics, and visibility maps so that
        # index-only scans need no heap fetches (fresh COPY data has none).
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def _finish(conn: asyncpg.Connection, gen: Generator) -> None:
    """Sequences past the copied ids, and the kept counts and slug history the app maintains
    on writes."""
    for table in ("users", "tags", "articles", "comments"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )
    await conn.execute(
        "UPDATE articles SET favorites_count = f.n FROM "
        "(SELECT article_id, COUNT(*) AS n FROM favorites GROUP BY article_id) AS f "
        "WHERE articles.id = f.article_id"
    )
    await conn.execute(
        "UPDATE tags SET articles_count = t.n FROM "
        "(SELECT tag_id, COUNT(*) AS n FROM article_tags GROUP BY tag_id) AS t "
        "WHERE tags.id = t.tag_id"
    )
    await conn.execute(
        "INSERT INTO counters (name, value) SELECT 'articles', COUNT(*) FROM articles"
    )
    await conn.execute(  # each author's total, named as the service names it
        "INSERT INTO counters (name, value) "
        "SELECT $1::text || author_id, COUNT(*) FROM articles GROUP BY author_id",
        ARTICLES_BY,
    )
    # Every article's slug in the history, as the app records it on creation.
    await conn.execute("INSERT INTO article_slugs (slug, article_id) SELECT slug, id FROM articles")


def bench_data(spec: DataSet, secret_key: str, tokens: int = 200) -> BenchData:
    codec = TokenCodec(secret_key, ttl_seconds=7 * 24 * 3600)
    users = range(1, min(spec.users, tokens) + 1)
    return BenchData(
        password=PASSWORD,
        emails=[f"user{i}@bench.example" for i in users],
        usernames=[f"user{i}" for i in users],
        tokens=[codec.issue(i) for i in users],
        slugs=[f"article-{i}" for i in range(1, min(spec.articles, 500) + 1)],
        tags=[f"tag{i}" for i in range(1, min(spec.tags, 50) + 1)],
    )


def production_password_hash(hasher: PasswordHasher) -> str:
    """One hash at the production cost, shared by every bench user (hashing 10,000 takes long)."""
    import asyncio

    return asyncio.run(hasher.hash(PASSWORD))

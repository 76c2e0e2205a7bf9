"""Conduit clients for the load test (tests/scaleout/test_load.py), and the ledger of what the
service told them. Run as its own process (`python -m tests.scaleout.clients`), so the
clients' work competes with neither the test's event loop nor the Redis fault proxy's thread.

Each client is one user on one keep-alive connection from a loopback address of its own (so
nginx, and the per-address limits behind it, see 200 addresses as it would 200 people). A few
authors publish first (the site has content when the crowd arrives, and every client knows
their articles, as from a shared link). Then every client signs up and goes through the
session of its kind, a write and its undoing (an article and its edit, a comment and its
removal, a favourite and its withdrawal, a follow and an unfollow) or reads and a login, so
every kind of write happens however slow the host is; then, until the time is up, it reads
lists, tags, the feed and articles, writes, comments, favourites, follows and logs in again
at random, with a short pause between actions. Like a real client it never retries: a
connection error, a timeout or an answer other than the one the request should get is a
failure of the run.

Each user's favourites and follows are changed by its own client only, one request at a
time, so the last answer about one is its final state: the database must hold exactly that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "load-test-pw-1"
# What a user thinks between two actions: short, so the queues stay full.
PAUSE = 0.1
# How often each action is picked, in a client's life after sign-up: about 3 reads to 2
# writes, as a busy Conduit would see.
ACTIONS = {
    "articles": 10,
    "articles_by_tag": 8,
    "feed": 8,
    "article": 8,
    "comments": 6,
    "profile": 4,
    "tags": 4,
    "create": 10,
    "comment": 10,
    "delete_comment": 5,
    "favorite": 12,
    "follow": 6,
    "update": 5,
    "login": 3,
}


@dataclass
class Ledger:
    """Everything the clients were told, as answers arrived, and every failure they met."""

    users: set[str] = field(default_factory=set)
    articles: dict[str, str] = field(default_factory=dict)  # slug: author, from 201s
    contents: dict[str, tuple[str, str]] = field(default_factory=dict)  # slug: last told
    tags: dict[str, frozenset[str]] = field(default_factory=dict)  # slug: last told
    comments: dict[int, tuple[str, str]] = field(default_factory=dict)  # id: (slug, author)
    deleted: set[int] = field(default_factory=set)  # comment ids answered 204
    favorites: dict[tuple[str, str], bool] = field(default_factory=dict)  # (user, slug)
    follows: dict[tuple[str, str], bool] = field(default_factory=dict)  # (follower, followed)
    answers: Counter[str] = field(default_factory=Counter)  # "POST /api/articles 201": n
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)  # of every request answered

    elapsed: float = 0.0  # from the crowd's arrival to the last answer

    @property
    def statuses(self) -> Counter[int]:
        found: Counter[int] = Counter()
        for key, n in self.answers.items():
            found[int(key.rsplit(" ", 1)[1])] += n
        return found

    def to_json(self) -> str:
        return json.dumps(
            {
                "users": sorted(self.users),
                "articles": self.articles,
                "contents": self.contents,
                "tags": {slug: sorted(tags) for slug, tags in self.tags.items()},
                "comments": {str(k): v for k, v in self.comments.items()},
                "deleted": sorted(self.deleted),
                "favorites": [[*pair, state] for pair, state in self.favorites.items()],
                "follows": [[*pair, state] for pair, state in self.follows.items()],
                "answers": self.answers,
                "failures": self.failures,
                "seconds": self.seconds,
                "request_ids": sorted(self.request_ids),
                "elapsed": self.elapsed,
            }
        )

    @classmethod
    def from_json(cls, data: str) -> Ledger:
        raw = json.loads(data)
        return cls(
            users=set(raw["users"]),
            articles=raw["articles"],
            contents={slug: (d, b) for slug, (d, b) in raw["contents"].items()},
            tags={slug: frozenset(tags) for slug, tags in raw["tags"].items()},
            comments={int(k): (slug, user) for k, (slug, user) in raw["comments"].items()},
            deleted=set(raw["deleted"]),
            favorites={(user, slug): state for user, slug, state in raw["favorites"]},
            follows={(user, other): state for user, other, state in raw["follows"]},
            answers=Counter(raw["answers"]),
            failures=raw["failures"],
            seconds=raw["seconds"],
            request_ids=set(raw["request_ids"]),
            elapsed=raw["elapsed"],
        )


def transport(n: int, verify: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """Client `n`'s connection, from 127.77.x.y (Linux routes all of 127/8 to loopback); one
    TLS context for all (each would read the CA file again, though no URL here is https)."""
    address = f"127.77.{n // 250}.{n % 250 + 1}"
    return httpx.AsyncHTTPTransport(local_address=address, verify=verify, retries=0)


class Client:
    def __init__(
        self, n: int, run: str, http: httpx.AsyncClient, ledger: Ledger, tags: list[str]
    ) -> None:
        self.n = n
        self.run = run
        self.http = http
        self.ledger = ledger
        self.vocabulary = tags
        self.name = user_name(run, n)
        self.rng = random.Random(f"{run}-{n}")  # noqa: S311  (a workload, not a secret)
        self.token: str | None = None
        self.sent = 0
        self.mine: list[str] = []  # slugs of this user's articles
        self.my_comments: list[tuple[str, int]] = []
        self.seen: dict[str, str] = {}  # slug: author, of this run's articles it has read
        self.favorited: dict[str, bool] = {}  # as last told, by slug
        self.following: dict[str, bool] = {}  # as last told, by username

    # One request: timed, counted, checked against the one status it should get.

    async def call(
        self, label: str, method: str, path: str, expect: int, **kwargs: Any
    ) -> httpx.Response | None:
        self.sent += 1
        rid = f"{self.run}-{self.n}-{self.sent}"
        headers = {"X-Request-ID": rid}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        started = time.monotonic()
        try:
            response = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.ledger.failures.append(f"{rid} {method} {label}: {exc!r}")
            return None
        self.ledger.seconds.append(time.monotonic() - started)
        self.ledger.request_ids.add(rid)
        self.ledger.answers[f"{method} {label} {response.status_code}"] += 1
        if response.status_code != expect:
            self.ledger.failures.append(
                f"{rid} {method} {label}: {response.status_code} {response.text[:200]}"
            )
            return None
        return response

    def wrong(self, what: str) -> None:
        """An answer that contradicts what this user did (read-your-writes)."""
        self.ledger.failures.append(f"{self.name}: {what}")

    # A life: sign up, the session of its kind, then random actions until the time is up.

    async def live(self, start_after: float, until: float) -> None:
        await asyncio.sleep(start_after)
        if self.token is None and not await self.register():
            return
        await getattr(self, SESSIONS[self.n % len(SESSIONS)])()
        while time.monotonic() < until:
            action = self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
            await getattr(self, action)()
            await asyncio.sleep(self.rng.uniform(0, PAUSE))

    async def publish(self, articles: int) -> None:
        """An author's start: signed up, with articles out before the crowd comes."""
        if await self.register():
            for _ in range(articles):
                await self.create()

    # Sessions: what a client does first, each kind a write and its undoing, or reads.

    async def writer(self) -> None:
        await self.create()
        await self.update()

    async def commenter(self) -> None:
        await self.comment()
        await self.delete_comment()

    async def fan(self) -> None:
        slug = self.pick_article()
        await self.favorite(slug)
        await self.favorite(slug)  # and back

    async def follower(self) -> None:
        author = self.pick_author()
        await self.follow(author)
        await self.feed()
        await self.follow(author)  # and back

    async def reader(self) -> None:
        await self.article()
        await self.comments()

    async def returning(self) -> None:
        await self.login()
        await self.articles_by_tag()

    async def register(self) -> bool:
        user = {"username": self.name, "email": f"{self.name}@example.com", "password": PASSWORD}
        made = await self.call("/api/users", "POST", "/api/users", 201, json={"user": user})
        if made is None:
            return False
        self.ledger.users.add(self.name)
        self.token = made.json()["user"]["token"]
        return True

    async def login(self) -> None:
        login = {"user": {"email": f"{self.name}@example.com", "password": PASSWORD}}
        answer = await self.call("/api/users/login", "POST", "/api/users/login", 200, json=login)
        if answer:
            self.token = answer.json()["user"]["token"]

    # Reads: each teaches the client this run's articles, and must agree with its own writes.

    async def articles(self) -> None:
        await self.read_list("/api/articles", "/api/articles?limit=20")

    async def articles_by_tag(self) -> None:
        tag = self.rng.choice(self.vocabulary)
        await self.read_list("/api/articles?tag", f"/api/articles?tag={tag}&limit=20")

    async def feed(self) -> None:
        await self.read_list("/api/articles/feed", "/api/articles/feed?limit=20")

    async def read_list(self, label: str, path: str) -> None:
        answer = await self.call(label, "GET", path, 200)
        if answer:
            for article in answer.json()["articles"]:
                self.learn(article)

    def learn(self, article: dict[str, Any]) -> None:
        author = article["author"]["username"]
        if not author.startswith(user_prefix(self.run)):
            return  # another test's
        slug = article["slug"]
        self.seen[slug] = author
        if article["favorited"] != self.favorited.get(slug, False):
            self.wrong(f"{slug} favorited {article['favorited']}, told otherwise")
        if article["author"]["following"] != self.following.get(author, False):
            self.wrong(f"{author} following {article['author']['following']}, told otherwise")

    async def article(self) -> None:
        slug = self.pick_article()
        if slug is None:
            return await self.create()
        answer = await self.call("/api/articles/:slug", "GET", f"/api/articles/{slug}", 200)
        if answer:
            self.learn(answer.json()["article"])
        return None

    async def comments(self) -> None:
        slug = self.pick_article()
        if slug is None:
            return await self.create()
        path = f"/api/articles/{slug}/comments"
        answer = await self.call("/api/articles/:slug/comments", "GET", path, 200)
        if answer:
            ids = {comment["id"] for comment in answer.json()["comments"]}
            for on, mine in self.my_comments:
                if on == slug and mine not in ids:
                    self.wrong(f"comment {mine} on {slug} missing from its list")
        return None

    async def profile(self) -> None:
        author = self.pick_author()
        if author is None:
            return await self.tags()
        answer = await self.call("/api/profiles/:username", "GET", f"/api/profiles/{author}", 200)
        if answer and answer.json()["profile"]["following"] != self.following.get(author, False):
            self.wrong(f"profile {author} following, told otherwise")
        return None

    async def tags(self) -> None:
        await self.call("/api/tags", "GET", "/api/tags", 200)

    # Writes: each answer goes in the ledger.

    async def create(self) -> None:
        tags = [self.run_tag, *self.rng.sample(self.vocabulary, self.rng.randint(1, 3))]
        article = {
            "title": f"{self.name} {len(self.mine)} {self.rng.random():.6f}",
            "description": f"by {self.name}",
            "body": f"written by {self.name} under load",
            "tagList": tags,
        }
        body = {"article": article}
        made = await self.call("/api/articles", "POST", "/api/articles", 201, json=body)
        if made is None:
            return
        told = made.json()["article"]
        slug = told["slug"]
        self.ledger.articles[slug] = self.name
        self.ledger.contents[slug] = (told["description"], told["body"])
        self.ledger.tags[slug] = frozenset(told["tagList"])
        if set(told["tagList"]) != set(tags) or told["author"]["username"] != self.name:
            self.wrong(f"{slug} created as {told['tagList']} by {told['author']['username']}")
        self.mine.append(slug)
        self.seen[slug] = self.name

    async def update(self) -> None:
        if not self.mine:
            return await self.create()
        slug = self.rng.choice(self.mine)
        changes: dict[str, Any] = {
            "description": f"by {self.name}, edited {self.sent}",
            "body": f"rewritten by {self.name} at {self.sent}",
        }
        if self.rng.random() < 0.5:  # the tags too: their counts move
            changes["tagList"] = [self.run_tag, self.rng.choice(self.vocabulary)]
        path = f"/api/articles/{slug}"
        answer = await self.call("/api/articles/:slug", "PUT", path, 200, json={"article": changes})
        if answer is None:
            return None
        told = answer.json()["article"]
        self.ledger.contents[slug] = (told["description"], told["body"])
        self.ledger.tags[slug] = frozenset(told["tagList"])
        if told["body"] != changes["body"] or (
            "tagList" in changes and set(told["tagList"]) != set(changes["tagList"])
        ):
            self.wrong(f"{slug} updated, answered otherwise")
        return None

    async def comment(self) -> None:
        slug = self.pick_article()
        if slug is None:
            return await self.create()
        path = f"/api/articles/{slug}/comments"
        body = {"comment": {"body": f"{self.name} on {slug}"}}
        made = await self.call("/api/articles/:slug/comments", "POST", path, 201, json=body)
        if made:
            comment_id = made.json()["comment"]["id"]
            self.ledger.comments[comment_id] = (slug, self.name)
            self.my_comments.append((slug, comment_id))
        return None

    async def delete_comment(self) -> None:
        if not self.my_comments:
            return await self.comment()
        slug, comment_id = self.my_comments.pop(self.rng.randrange(len(self.my_comments)))
        path = f"/api/articles/{slug}/comments/{comment_id}"
        if await self.call("/api/articles/:slug/comments/:id", "DELETE", path, 204):
            self.ledger.deleted.add(comment_id)
        return None

    async def favorite(self, slug: str | None = None) -> None:
        """Favourite an article, or take the favourite back if this user has it."""
        slug = slug or self.pick_article()
        if slug is None:
            return await self.create()
        on = not self.favorited.get(slug, False)
        path = f"/api/articles/{slug}/favorite"
        label = "/api/articles/:slug/favorite"
        answer = await self.call(label, "POST" if on else "DELETE", path, 200)
        if answer is None:
            return None
        told = answer.json()["article"]
        self.favorited[slug] = told["favorited"]
        self.ledger.favorites[(self.name, slug)] = told["favorited"]
        # Others may favourite it meanwhile: only a bound holds for the count.
        if told["favorited"] is not on or told["favoritesCount"] < (1 if on else 0):
            self.wrong(f"{slug} favourite {on}: {told['favorited']}, {told['favoritesCount']}")
        return None

    async def follow(self, author: str | None = None) -> None:
        """Follow an author, or stop if this user follows them."""
        author = author or self.pick_author()
        if author is None:
            return await self.create()
        on = not self.following.get(author, False)
        path = f"/api/profiles/{author}/follow"
        label = "/api/profiles/:username/follow"
        answer = await self.call(label, "POST" if on else "DELETE", path, 200)
        if answer is None:
            return None
        told = answer.json()["profile"]["following"]
        self.following[author] = told
        self.ledger.follows[(self.name, author)] = told
        if told is not on:
            self.wrong(f"follow {author} {on}: answered {told}")
        return None

    # Choices among what this client has seen.

    @property
    def run_tag(self) -> str:
        return run_tag(self.run)

    def pick_article(self) -> str | None:
        return self.rng.choice(list(self.seen)) if self.seen else None

    def pick_author(self) -> str | None:
        others = sorted({author for author in self.seen.values() if author != self.name})
        return self.rng.choice(others) if others else None


SESSIONS = ["writer", "commenter", "fan", "follower", "reader", "returning"]


async def load(
    url: str, run: str, clients: int, seconds: float, authors: int, client_timeout: float
) -> Ledger:
    """`authors` of the clients publish two articles each; then all `clients` come, over the
    first two seconds, and act for `seconds`; what they were told."""
    ledger = Ledger()
    verify = ssl.create_default_context()
    tags = vocabulary(run)
    async with AsyncExitStack() as stack:
        crowd = []
        for n in range(clients):
            connection = transport(n, verify)
            http = httpx.AsyncClient(base_url=url, transport=connection, timeout=client_timeout)
            await stack.enter_async_context(http)
            crowd.append(Client(n, run, http, ledger, tags))
        await asyncio.gather(*(client.publish(2) for client in crowd[:authors]))
        links = dict(ledger.articles)  # known to all, as from a shared link
        for client in crowd:
            client.seen.update(links)
        started = time.monotonic()
        ramp = 2.0  # the crowd arrives over two seconds
        await asyncio.gather(
            *(client.live(n * ramp / clients, started + seconds) for n, client in enumerate(crowd))
        )
        ledger.elapsed = time.monotonic() - started
    return ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("run", help="names this run's users, tags and request ids")
    parser.add_argument("ledger", type=Path, help="where to write what clients were told")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--authors", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    ledger = asyncio.run(
        load(args.url, args.run, args.clients, args.seconds, args.authors, args.timeout)
    )
    args.ledger.write_text(ledger.to_json())


def user_prefix(run: str) -> str:
    return f"ld{run}-"


def user_name(run: str, n: int) -> str:
    return f"{user_prefix(run)}{n}"


def run_tag(run: str) -> str:
    """A tag every article of the run carries: the run's articles are one listing."""
    return f"run{run}"


def vocabulary(run: str, size: int = 8) -> list[str]:
    return [f"t{run}{k}" for k in range(size)]


if __name__ == "__main__":
    main()

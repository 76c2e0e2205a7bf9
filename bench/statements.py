"""SQL statements per request, recorded in-process on the bench database.

The app is built by the same factory with the bench's settings and driven through its test
client, one request per scenario, while an engine event records what reaches the database
(the stack limit's check that it runs the same SQL reads these texts).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from bench.data import BenchData
from service import create_app
from service.config import load_config

# What each scenario's first request looks like: method, path, token?, JSON body.
Probe = tuple[str, str, bool, dict[str, Any] | None]


def probes(data: BenchData) -> dict[str, Probe]:
    slug, tag, username = data.slugs[0], data.tags[0], data.usernames[1]
    return {
        "quart_no_io": ("GET", "/healthz", False, None),
        "list_articles": ("GET", "/api/articles?limit=20", False, None),
        "list_articles_token": ("GET", "/api/articles?limit=20", True, None),
        "list_deep": ("GET", "/api/articles?limit=20&offset=10000", False, None),
        "list_by_tag": ("GET", f"/api/articles?limit=20&tag={tag}", False, None),
        "feed": ("GET", "/api/articles/feed?limit=20", True, None),
        "article": ("GET", f"/api/articles/{slug}", False, None),
        "comments": ("GET", f"/api/articles/{slug}/comments", False, None),
        "profile": ("GET", f"/api/profiles/{username}", True, None),
        "current_user": ("GET", "/api/user", True, None),
        "tags": ("GET", "/api/tags", False, None),
        "login": (
            "POST",
            "/api/users/login",
            False,
            {"user": {"email": data.emails[0], "password": data.password}},
        ),
        "create_article": (
            "POST",
            "/api/articles",
            True,
            {
                "article": {
                    "title": "Statement count",
                    "description": "d",
                    "body": "b",
                    "tagList": [tag],
                }
            },
        ),
        "favorite": ("POST", f"/api/articles/{slug}/favorite", True, None),
    }


_TRANSACTION_WORDS = {"SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "PRAGMA"}


# A statement's SQL text and its parameters.
Statement = tuple[str, tuple[Any, ...]]


async def record(
    database_url: str,
    secret_key: str,
    data: BenchData,
    names: list[str] | None = None,
) -> dict[str, list[Statement]]:
    """Each scenario's statements (all of them, or those `names`), with their parameters, as
    the app sends them for its first request."""
    # Production settings: the seeded hashes have its cost, so a login does not rehash them.
    settings = load_config("production", database_url=database_url, secret_key=secret_key)
    app = create_app(settings)
    found: dict[str, list[Statement]] = {}
    every = probes(data)
    async with app.test_app():
        engine = app.extensions["db"].engine.sync_engine
        seen: list[Statement] = []

        def on_execute(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
            word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
            if word not in _TRANSACTION_WORDS:
                seen.append((statement, tuple(params or ())))

        event.listen(engine, "before_cursor_execute", on_execute)
        client = app.test_client()
        for name in names if names is not None else list(every):
            method, path, with_token, body = every[name]
            headers = {"Authorization": f"Token {data.tokens[0]}"} if with_token else {}
            seen.clear()
            response = await client.open(path, method=method, headers=headers, json=body)
            if response.status_code >= 400:
                answer = await response.get_data()
                raise RuntimeError(
                    f"{name}: {method} {path} answered {response.status_code}: {answer!r}"
                )
            found[name] = list(seen)
        event.remove(engine, "before_cursor_execute", on_execute)
    return found


def statements_seen(database_url: str, secret_key: str, data: BenchData) -> dict[str, list[str]]:
    """The SQL text of each statement the first request of each scenario ran."""
    recorded = asyncio.run(record(database_url, secret_key, data))
    return {name: [sql for sql, _ in statements] for name, statements in recorded.items()}

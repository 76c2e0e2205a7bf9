"""The stack limit: the service's reads with nothing above the queries but what they need.

A bare ASGI app, served by hypercorn exactly as bench/bare_asgi.py (same command, settings and
workers), with an asyncpg pool per worker sized like the service's (DB_POOL_SIZE +
DB_MAX_OVERFLOW). It answers the reads the bench measures by running the service's own
statements (bench/service_sql.py takes them from service/daos/, compiled as the service's
driver reads compile them) on raw asyncpg, prepared once per connection by asyncpg's statement
cache, as the service's hot reads run, and writes the service's JSON with orjson: same keys,
order, timestamps and escaping, byte for byte (bench/compare.py checks it). As the service's,
a page is one statement whose rows carry the total and each article's tag names; past the
end, the total is asked alone.

    GET /api/articles?limit=&offset=&tag=   the list, by tag      (caller +) page (or + total)
    GET /api/articles/feed?limit=&offset=   the caller's feed     caller + page (or + total)
    GET /api/articles/<slug>                one article           (caller +) article
    GET /api/profiles/<username>            a profile             (caller +) profile
    GET /api/user                           the caller, renewed   caller

What it does like the service: a token is read by the service's TokenCodec (PyJWT, HS256, the
same key and lifetimes, the same cache of verified tokens), the caller's row is loaded by the
same statement on every authenticated request and its credentials version checked (the
revocation check for tokens outside a refresh-token family, which are all the bench sends),
GET /api/user renews the token as the service does, and reads run outside a transaction, as
the service's GETs run in autocommit.

What it does not do: no access log, request id, metrics, admission control or deadline, no
ETag or Cache-Control, no rate limits, no session cookie, no response-schema check (production
skips it too); tokens of a refresh-token family are refused (401: the service looks their
family up); `author` and `favorited` filters answer 400; an old slug answers 404 (the service
answers 301); query values are parsed, not validated. It is a ceiling for the same queries and
the same bytes, not a second implementation of the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench.service_sql import Shape, Statements, service_statements
from service.config import Settings, load_config
from service.crypto import ExpiredToken, InvalidToken, TokenClaims, TokenCodec
from service.errors import (
    AppError,
    ArticleNotFound,
    Invalid,
    NotFound,
    ProfileNotFound,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
)
from service.models import MAX_ID
from service.services.tags import tag_key
from service.services.users import username_key

CONTENT_TYPE = b"application/json; charset=utf-8"  # the service's
AUTH_SCHEMES = ("token", "bearer")
Record = Any  # asyncpg.Record: columns by name


def timestamp(value: datetime) -> str:
    """`2026-11-25T09:00:00.123Z`: asyncpg hands timestamptz back in UTC."""
    return value.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _profile(row: Record) -> dict[str, Any]:
    return {
        "username": row["username"],
        "bio": row["bio"],
        "image": row["image"],
        "following": bool(row["following"]),
    }


def _tag_list(row: Record) -> list[str]:
    """The row's `tag_names` (a PostgreSQL array; NULL for no tags), sorted as the service
    sorts them."""
    return sorted(row["tag_names"] or [])


def _article(row: Record, tags: list[str]) -> dict[str, Any]:
    return {
        "slug": row["slug"],
        "title": row["title"],
        "description": row["description"],
        "tagList": tags,
        "createdAt": timestamp(row["created_at"]),
        "updatedAt": timestamp(row["updated_at"]),
        "favorited": bool(row["favorited"]),
        "favoritesCount": row["favorites_count"],
        "author": _profile(row),
    }


class Refused(Exception):
    """A request the twin answers with the service's error body."""

    def __init__(self, error: AppError) -> None:
        self.error = error


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (a round trip per request): the twin changes no
    session state, and the service's pool sends nothing on release outside a transaction."""


class StackLimit:
    """The ASGI app: a Twin per worker, made at lifespan start (its pool needs the loop)."""

    def __init__(self) -> None:
        self.twin: Twin | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.twin is None:  # hypercorn serves only after the lifespan's startup
            raise RuntimeError("the stack limit has not started")
        try:
            status, body = 200, await self.twin.route(scope)
        except Refused as refused:
            error = refused.error
            status, body = error.status, orjson.dumps({"errors": {error.key: [error.message]}})
        headers = [(b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.twin = await Twin.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.twin is not None:
                    await self.twin.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


class Twin:
    """One worker's pool, token codec and compiled statements, and the reads it answers."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, codec: TokenCodec) -> None:
        self.settings = settings
        self.pool = pool
        self.codec = codec
        self.sql: Statements = service_statements()

    @classmethod
    async def start(cls) -> Twin:
        # The service's settings from the same environment (bench/__main__.py's server_env).
        settings = load_config()
        codec = TokenCodec(
            settings.secret_key.get_secret_value(),
            settings.jwt_ttl_seconds,
            max_age_seconds=settings.token_max_age_seconds,
            access_ttl_seconds=settings.access_token_ttl_seconds,
            legacy=settings.legacy_tokens,
        )
        dsn = make_url(settings.database_url).set(drivername="postgresql")
        pool = await asyncpg.create_pool(
            dsn.render_as_string(hide_password=False),
            min_size=1,
            max_size=settings.db_pool_size + settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            reset=_keep_session,
            # It idles beside the service while the service is measured: its connections go
            # back to the shared PostgreSQL (100 connections for every bench on the host).
            max_inactive_connection_lifetime=10,
            server_settings={
                "application_name": "conduit-stack-limit",
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        )
        return cls(settings, pool, codec)

    async def route(self, scope: dict[str, Any]) -> bytes:
        path: str = scope["path"]
        if scope["method"] != "GET":
            raise Refused(NotFound("body", "not found"))
        if path == "/healthz":
            return b'{"status":"ok"}'
        token = _bearer(scope)
        async with self.pool.acquire() as conn:
            if path == "/api/user":
                return await self._current_user(conn, token)
            if path == "/api/articles":
                return await self._list(conn, token, scope["query_string"], feed=False)
            if path == "/api/articles/feed":
                return await self._list(conn, token, scope["query_string"], feed=True)
            if path.startswith("/api/articles/") and "/" not in path[14:]:
                return await self._one_article(conn, token, path[14:])
            if path.startswith("/api/profiles/") and "/" not in path[14:]:
                return await self._profile(conn, token, path[14:])
        raise Refused(NotFound("body", "not found"))

    async def _caller(
        self, conn: asyncpg.Connection, token: str | None
    ) -> tuple[Record, TokenClaims] | None:
        """The caller's row, as the service's credentials check loads and checks it."""
        if token is None:
            return None
        try:
            claims = self.codec.read(token)
        except ExpiredToken:
            raise Refused(TokenExpired()) from None
        except InvalidToken:
            raise Refused(TokenInvalid()) from None
        if claims.family is not None or not 0 < claims.user_id <= MAX_ID:
            raise Refused(TokenInvalid())
        statement = self.sql.user
        user = await conn.fetchrow(statement.sql, *statement.args({"id": claims.user_id}))
        if user is None or user["credentials_version"] != claims.version:
            raise Refused(TokenInvalid())
        return user, claims

    async def _current_user(self, conn: asyncpg.Connection, token: str | None) -> bytes:
        caller = await self._caller(conn, token)
        if caller is None:
            raise Refused(TokenMissing())
        user, claims = caller
        renewed = self.codec.issue(
            user["id"],
            version=user["credentials_version"],
            auth_time=claims.auth_time,
            family=claims.family,
            access=claims.access or not self.settings.legacy_tokens,
        )
        return orjson.dumps(
            {
                "user": {
                    "email": user["email"],
                    "token": renewed,
                    "username": user["username"],
                    "bio": user["bio"],
                    "image": user["image"],
                }
            }
        )

    async def _list(
        self, conn: asyncpg.Connection, token: str | None, query_string: bytes, *, feed: bool
    ) -> bytes:
        query = parse_qs(query_string.decode("latin-1"))
        if "author" in query or "favorited" in query:
            raise Refused(Invalid("query", "author and favorited are not in the stack limit"))
        try:
            limit = int(query.get("limit", ["20"])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            raise Refused(Invalid("query", "limit and offset are integers")) from None
        caller = await self._caller(conn, token)
        if feed and caller is None:
            raise Refused(TokenMissing())
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        filters: frozenset[str] = frozenset()
        if feed:
            assert caller is not None
            params["feed_of"] = caller[0]["id"]
            filters = frozenset({"feed_of"})
        elif "tag" in query:
            params["tag_key"] = tag_key(query["tag"][0].strip())
            filters = frozenset({"tag_key"})
        if caller is not None:
            params["viewer_id"] = caller[0]["id"]
        shape: Shape = (filters, caller is not None)
        page = self.sql.page[shape]
        rows = await conn.fetch(page.sql, *page.args(params))
        if not rows:  # past the end: the total still counts
            total = self.sql.total[shape]
            found = await conn.fetchval(total.sql, *total.args(params))
            return orjson.dumps({"articles": [], "articlesCount": int(found or 0)})
        articles = [_article(row, _tag_list(row)) for row in rows]
        return orjson.dumps({"articles": articles, "articlesCount": int(rows[0]["total"])})

    async def _one_article(self, conn: asyncpg.Connection, token: str | None, slug: str) -> bytes:
        caller = await self._caller(conn, token)
        if "\x00" in slug:  # PostgreSQL refuses NUL in text: no row holds one
            raise Refused(ArticleNotFound())
        params: dict[str, Any] = {"slug": slug}
        if caller is not None:
            params["viewer_id"] = caller[0]["id"]
        statement = self.sql.article[caller is not None]
        row = await conn.fetchrow(statement.sql, *statement.args(params))
        if row is None:
            raise Refused(ArticleNotFound())
        body = _article(row, _tag_list(row))
        body["body"] = row["body"] or ""
        return orjson.dumps({"article": body})

    async def _profile(self, conn: asyncpg.Connection, token: str | None, username: str) -> bytes:
        caller = await self._caller(conn, token)
        key = username_key(username)
        if "\x00" in key:
            raise Refused(ProfileNotFound())
        params: dict[str, Any] = {"username_key": key}
        if caller is not None:
            params["viewer_id"] = caller[0]["id"]
        statement = self.sql.profile[caller is not None]
        row = await conn.fetchrow(statement.sql, *statement.args(params))
        if row is None:
            raise Refused(ProfileNotFound())
        return orjson.dumps({"profile": _profile(row)})


def _bearer(scope: dict[str, Any]) -> str | None:
    """The token of `Authorization: Token <jwt>` (or Bearer), as the service reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.strip().partition(" ")
            token = token.strip()
            if scheme.lower() not in AUTH_SCHEMES or not token:
                raise Refused(TokenInvalid())
            return token
    return None


app = StackLimit()

"""Request ids, logging and the access log: every log line carries the id of its request.

Logs are JSON, one object per line (plain text in development and tests), through the
`service` logger; Quart's, SQLAlchemy's and asyncio's own messages go through the same handler.
The access log is the app's, not hypercorn's: one line per request, written when the response
has been sent (or the client has gone), with the route template, the raw path, status, bytes,
duration, request id, client address and X-Forwarded-For. Nothing a client sends can start a
line or put a control byte in the log: what it chose is escaped to printable ASCII, and the
JSON writer escapes the rest.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPScope,
    Scope,
)
from quart import Quart, Response, g, request

from service.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

access_log = logging.getLogger("service.access")

# What a client chose, logged: anything but printable ASCII (and the backslash that escapes it).
_CLIENT_UNSAFE = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
# What orjson leaves raw that a terminal or a log viewer takes as a control or a line break.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")
# For the plain-text formatter: control characters and line breaks.
_TEXT_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str, limit: int = 2048) -> str:
    """`text` as printable ASCII: other characters become Python-style escapes (\\n, \\x1b)."""
    escaped = _CLIENT_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return escaped[:limit]


def _escape_text(text: str) -> str:
    return _TEXT_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "pid": record.process,  # which worker: the launcher runs several
        }
        fields = getattr(record, "fields", None)  # logger.info(..., extra={"fields": {...}})
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


class TextFormatter(logging.Formatter):
    """For people reading a terminal: the JSON formatter's fields as key=value at the end."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = _escape_text(super().formatMessage(record))
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += "".join(f" {key}={_escape_text(str(value))}" for key, value in fields.items())
        return line


# Loggers of the libraries under the app, and the least level that reaches the log.
_LIBRARY_LOGGERS = {
    "quart.app": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "asyncio": logging.WARNING,
}


def configure_logging(settings: Settings) -> None:
    formatter: logging.Formatter = (
        JsonFormatter()
        if settings.log_json
        else TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("service")
    logger.handlers[:] = [handler]
    logger.setLevel(settings.log_level)
    logger.propagate = False
    for name, level in _LIBRARY_LOGGERS.items():
        # A handler of their own, so SQLAlchemy's echo (INFO, on its child loggers) is not
        # written twice, and the levels stay theirs.
        library = logging.StreamHandler(sys.stderr)
        library.addFilter(RequestIdFilter())
        library.setFormatter(formatter)
        library.setLevel(level)
        other = logging.getLogger(name)
        other.handlers[:] = [library]
        other.propagate = False


class _Access:
    """What the app tells the access log about a request it handled."""

    __slots__ = ("error", "request_id", "route")

    def __init__(self) -> None:
        self.route: str | None = None
        self.request_id: str | None = None
        self.error: dict[str, str] | None = None


# Set by the access log for each request; the request's own task (a copy of this context)
# fills in the same object.
_access: ContextVar[_Access | None] = ContextVar("access", default=None)


def note_error(message: str, fields: dict[str, str]) -> None:
    """Put why the request failed on its access log line."""
    record = _access.get()
    if record is not None:
        record.error = {"error_kind": message, **fields}


class AccessLog:
    """ASGI middleware, outermost: one access log line per HTTP request, in JSON like the
    rest. Outside the proxy fix, so `client` is the peer (the balancer) and `forwarded_for`
    the header as it arrived."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = _Access()
        token = _access.set(record)
        started = time.perf_counter()
        status: int | None = None
        sent = 0
        disconnected = False

        async def receive_and_watch() -> ASGIReceiveEvent:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def send_and_count(message: ASGISendEvent) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_and_watch, send_and_count)
        finally:
            _access.reset(token)
            duration = time.perf_counter() - started
            self._log(scope, record, status, sent, duration, disconnected)

    @staticmethod
    def _log(
        scope: HTTPScope,
        record: _Access,
        status: int | None,
        sent: int,
        duration: float,
        disconnected: bool,
    ) -> None:
        method = printable(str(scope.get("method", "-")), 16)
        route = record.route or "unmatched"
        raw_path = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8")
        forwarded = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name.lower() == b"x-forwarded-for"
        ]
        client = scope.get("client")
        fields: dict[str, object] = {
            "method": method,
            "route": route,
            "path": printable(raw_path.decode("latin-1")),
            "status": status,
            "bytes": sent,
            "duration_ms": round(duration * 1000, 1),
            "client": printable(str(client[0])) if client else None,
            "forwarded_for": printable(", ".join(forwarded), 512) if forwarded else None,
        }
        if status is None:
            # The client left before its answer (or the server stopped it): no traceback.
            fields["outcome"] = "client closed the request" if disconnected else "no response"
        if record.error:
            fields.update(record.error)
        level = logging.WARNING if status is not None and status >= 500 else logging.INFO
        access_log.log(
            level,
            "%s %s %s",
            method,
            route,
            status if status is not None else "-",
            extra={"request_id": record.request_id or "-", "fields": fields},
        )


def init_app(app: Quart) -> None:
    @app.before_request
    async def _assign_request_id() -> None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = sent if _SAFE_ID.match(sent) else uuid.uuid4().hex
        g.request_id = request_id
        request_id_var.set(request_id)
        record = _access.get()
        if record is not None:
            record.request_id = request_id
            # The rule, not the path: /api/articles/<slug:slug> whatever the slug.
            record.route = request.url_rule.rule if request.url_rule is not None else None

    @app.after_request
    async def _echo_request_id(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id") or request_id_var.get()
        return response

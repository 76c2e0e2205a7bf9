"""Real servers for the job tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver, both
on loopback ports, plus a worker run inside the test's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from quart import Quart

from service import worker
from service.config import Settings
from service.queue import EmbeddedRunner
from tests.live import free_port


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class SmtpServer:
    controller: Controller
    handler: _Collect

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@asynccontextmanager
async def smtp_server() -> AsyncIterator[SmtpServer]:
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    await asyncio.to_thread(controller.start)
    try:
        yield SmtpServer(controller, handler)
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver: answers each request by the next step of `plan` (a status code,
    "hang" to answer nothing for `hang_seconds`, or "slow" to answer 200 after it), then
    `default`."""

    plan: list[int | str] = field(default_factory=list)
    default: int = 200
    hang_seconds: float = 30.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = raw.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(line.split(" ")[1], headers, body, time.monotonic()))
            step = self.plan.pop(0) if self.plan else self.default
            if step in ("hang", "slow"):
                await asyncio.sleep(self.hang_seconds)
                if step == "hang":
                    return
                step = 200
            writer.write(
                f"HTTP/1.1 {step} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def receiver(**options: Any) -> AsyncIterator[Receiver]:
    server = Receiver(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def running_worker(app: Quart, concurrency: int = 2) -> AsyncIterator[None]:
    """Jobs run inside this block only, on both databases: on PostgreSQL `python -m
    service.worker`'s own loop (service.worker.run) in the test's loop; on SQLite the app's
    in-process runner, which `jobs_app` holds stopped until here (started with the app, a
    periodic clean-up could run before the test has set up what it should find)."""
    settings: Settings = app.extensions["settings"]
    if settings.is_sqlite:
        runner: EmbeddedRunner = app.extensions["job_runner"]
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()
        return
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(settings, concurrency, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Wait until `check()` holds (fails the test after `seconds`, however busy the host)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check(), f"not true within {seconds} s"

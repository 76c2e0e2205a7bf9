"""One worker process of the launcher (`service.serve`): hypercorn's protocol stack on our own
accept loop, so that a drain loses nothing the kernel has accepted.

Why not hypercorn's `worker_serve`: at shutdown it sets its `terminated` flag, which closes
every idle keep-alive connection at once (a request a client sends on one at that moment is
dropped: "Server disconnected"), and it closes the listening socket without accepting what the
kernel has already queued on it (those connections are reset, requests and all). Here a drain
goes in three steps:

1. The parent closes this worker's pipe (EOF). The app is marked draining (`/readyz` answers
   503) and every response from now on carries `Connection: close`, so clients on keep-alive
   connections are told to reconnect instead of being cut off.
2. For `drain_window` seconds the worker serves on as before, accepting new connections too:
   requests that arrive on open connections just after the signal get answers.
3. It stops accepting: the accept queue is emptied (every connection already queued is served)
   and the listening socket closed with nothing in between that could let a connection in
   unseen. Idle connections are then closed, requests in flight finish within what is left of
   `graceful_timeout`, and the app's shutdown runs (the database pool is disposed).

The pipe is the worker's alone: a sibling that died (even by SIGKILL) cannot block it, and if
the launcher itself dies the pipe reads EOF too, so no worker outlives its parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from importlib import import_module
from multiprocessing.connection import Connection
from typing import Any, cast

from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config, Sockets
from hypercorn.typing import AppWrapper, LifespanState
from hypercorn.utils import wrap_app

log = logging.getLogger("service.serve")

READY = b"ready"
# Connections one worker takes from the accept queue each time its loop finds it readable.
ACCEPT_BATCH = 32
# After accepting failed (the process out of file descriptors, say), wait this long.
ACCEPT_RETRY_SECONDS = 1.0
# Connections taken from the accept queue at the drain have sent their request already (they
# waited in the queue); one that sends nothing within this time is closed.
LATE_CONNECTION_SECONDS = 2.0

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class Draining:
    """ASGI middleware: once `on` is set, every response says `Connection: close`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.on = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: dict[str, Any]) -> None:
            if self.on and message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


def load_app(path: str) -> Any:
    """`module:name` imported as is (hypercorn's loader would wrap it before we can)."""
    module_name, _, name = path.partition(":")
    return getattr(import_module(module_name), name or "app")


def run(config: Config, sockets: Sockets, conn: Connection, drain_window: float) -> None:
    """The worker process's entry point (spawned by the launcher)."""
    # The launcher decides when to stop; a signal here would cut requests short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    app = load_app(config.application_path)
    draining = Draining(app)
    wrapped = wrap_app(cast(Any, draining), config.wsgi_max_body_size, "asgi")

    def mark_draining() -> None:
        draining.on = True
        extensions = getattr(app, "extensions", None)
        if isinstance(extensions, dict):
            extensions["draining"] = True  # /readyz answers 503 from here on

    loop_factory: Any = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(wrapped, config, sockets, conn, mark_draining, drain_window))


async def _parent_says_stop(conn: Connection) -> None:
    """Returns when the launcher closes its end of the pipe (or dies)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def readable() -> None:
        try:
            conn.recv_bytes()
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            stop.set()

    loop.add_reader(conn.fileno(), readable)
    await stop.wait()


async def serve(
    app: AppWrapper,
    config: Config,
    sockets: Sockets,
    conn: Connection,
    mark_draining: Callable[[], None],
    drain_window: float,
) -> None:
    loop = asyncio.get_running_loop()
    state: LifespanState = {}
    lifespan = Lifespan(app, config, loop, state)
    lifespan_task = loop.create_task(lifespan.handle_lifespan())
    await lifespan.wait_for_startup()
    if lifespan_task.done() and (error := lifespan_task.exception()) is not None:
        raise error

    context = WorkerContext(config.max_requests)
    late = WorkerContext(None)
    tasks: set[asyncio.Task[None]] = set()

    def handler(ctx: WorkerContext) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await TCPServer(app, loop, config, ctx, state, reader, writer)

        return handle

    ssl_context = config.create_ssl_context() if config.ssl_enabled else None
    listening = [(sock, ssl_context) for sock in sockets.secure_sockets] + [
        (sock, None) for sock in sockets.insecure_sockets
    ]
    acceptors = [
        Acceptor(loop, sock, ssl, handler(context), config.backlog) for sock, ssl in listening
    ]

    with contextlib.suppress(OSError):  # the launcher is gone or already stopping
        conn.send_bytes(READY)
    stop = loop.create_task(_parent_says_stop(conn))
    recycle = loop.create_task(context.terminate.wait())  # max_requests reached
    await asyncio.wait({stop, recycle}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    recycle.cancel()

    mark_draining()
    # The window ends early once the connections open now have closed: nobody is left to tell.
    started = loop.time()
    if tasks:
        await asyncio.wait(set(tasks), timeout=min(drain_window, config.graceful_timeout))
    window = loop.time() - started

    for acceptor in acceptors:
        acceptor.stop()  # our accept loop ends here
    for sock, ssl in listening:
        for accepted in _accept_queued(sock):
            await serve_accepted(loop, accepted, ssl, handler(late))
    for acceptor in acceptors:  # accepted just before it stopped, being handed over still
        if acceptor.tasks:
            await asyncio.wait(set(acceptor.tasks))
    await context.terminated.set()  # idle keep-alive connections close now
    loop.call_later(LATE_CONNECTION_SECONDS, lambda: loop.create_task(late.terminated.set()))

    if tasks:
        _, pending = await asyncio.wait(
            set(tasks), timeout=max(0.0, config.graceful_timeout - window)
        )
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    await lifespan.wait_for_shutdown()
    lifespan_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await lifespan_task


def _same(protocol: asyncio.StreamReaderProtocol) -> asyncio.StreamReaderProtocol:
    return protocol


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


async def serve_accepted(
    loop: asyncio.AbstractEventLoop, client: socket.socket, ssl: Any, handle: Handler
) -> None:
    """A connection accepted here, served as asyncio.start_server serves its own."""
    client.setblocking(False)
    if client.family in (socket.AF_INET, socket.AF_INET6):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = asyncio.StreamReader(limit=2**16, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, handle, loop=loop)
    try:
        await loop.connect_accepted_socket(partial(_same, protocol), client, ssl=ssl)
    except OSError:  # the client went away before it was served (or its TLS handshake failed)
        client.close()


class Acceptor:
    """Our accept loop on one listening socket, instead of asyncio.start_server's.

    uvloop's server (libuv) accepts one connection each turn of the event loop. Under load a
    turn takes tens of milliseconds, so a burst of new connections waited seconds in the
    kernel's queue before the first byte of their requests was read: 3-4 s to accept 256
    connections at full load (measured with `ss`: the listener's queue drained at ~70 a
    second), which was the p99 of every 256-connection bench run. Here each turn that finds
    the socket readable takes up to ACCEPT_BATCH: bounded, so that one turn stays short.
    Each worker has a socket of its own where it can (serve.py, worker_sockets): on a shared
    one, the first worker awake would take a burst in batches before the others woke."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        ssl: Any,
        handle: Handler,
        backlog: int,
    ) -> None:
        self.loop, self.sock, self.ssl, self.handle = loop, sock, ssl, handle
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopped = False
        sock.setblocking(False)
        sock.listen(backlog)  # the launcher's sockets are bound, not listening yet
        self._start()

    def _start(self) -> None:
        if not self.stopped:
            self.loop.add_reader(self.sock.fileno(), self._readable)

    def stop(self) -> None:
        self.stopped = True
        self.loop.remove_reader(self.sock.fileno())

    def _readable(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                client, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # reset while it waited in the queue
                continue
            except OSError as exc:
                # Readable still: returning would spin the loop. As asyncio does for running
                # out of descriptors or memory (and for anything else, rather than spin): pause.
                log.error("accept failed, retrying in %.0f s: %s", ACCEPT_RETRY_SECONDS, exc)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(ACCEPT_RETRY_SECONDS, self._start)
                return
            task = self.loop.create_task(serve_accepted(self.loop, client, self.ssl, self.handle))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


def _accept_queued(sock: socket.socket) -> list[socket.socket]:
    """Every connection waiting in the kernel's accept queue, then the socket closed, with no
    await in between: no connection that the kernel accepted is reset by the close."""
    accepted: list[socket.socket] = []
    sock.setblocking(False)
    try:
        while True:
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # closed already, or a connection that died in the queue
                break
            client.setblocking(False)
            accepted.append(client)
    finally:
        sock.close()
    return accepted

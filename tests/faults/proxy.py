"""A TCP proxy between the app and PostgreSQL that can refuse, cut, drop and freeze connections.

It runs its own asyncio loop in a thread, so it keeps forwarding while a test blocks (waiting
for a server to stop, say). Faults, as a database or a network shows them to a client:

- `refuse()`: nothing listens on the port (connection refused); `reject(...)` accepts and
  answers the start-up with PostgreSQL's FATAL error, as a server shutting down or starting
  does ("the database system is shutting down", SQLSTATE 57P03).
- `cut()`: every open connection is reset at once, both ways (a killed backend, a failover).
- `drop()`: every open connection's server side goes away without the client noticing; the
  client learns it is dead (a reset) only when it next sends (a NAT or firewall that forgot it).
- `freeze()`: bytes stop moving both ways and new connections are accepted but never answered
  (a stopped server, a network black hole). `release()` delivers what was held, except to and
  from connections the client abandoned meanwhile: their held bytes are dropped, as packets
  stop being resent once the client resets the connection.
- `restore()`: back to forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from tests.live import free_port

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


def _postgres_fatal(code: str, message: str) -> bytes:
    fields = b"SFATAL\x00VFATAL\x00C" + code.encode() + b"\x00M" + message.encode() + b"\x00\x00"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


class _Pipe:
    """One client connection and its connection to the server."""

    def __init__(self, proxy: FaultProxy, client: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.dropped = False  # server side gone, client not told yet
        self.held: list[tuple[asyncio.StreamWriter, bytes]] = []

    def send(self, target: asyncio.StreamWriter, data: bytes) -> None:
        if self.proxy.frozen:
            self.held.append((target, data))
        else:
            target.write(data)

    def release(self) -> None:
        held, self.held = self.held, []
        for target, data in held:
            if not target.is_closing():
                target.write(data)

    def reset(self) -> None:
        """Reset both sides (RST, not FIN) and forget anything held."""
        self.held.clear()
        for writer in (self.client, self.server):
            if writer is not None and not writer.is_closing():
                writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.frozen = False
        self.rejection: bytes | None = None
        self.accepted = 0
        self._pipes: set[_Pipe] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # Control, from the test's thread or loop: each call returns once the fault is in place.

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def refuse(self) -> None:
        self._call(self._close_listener())

    def reject(self, code: str = "57P03", message: str = "the database system is shutting down"):
        self._call(self._set_rejection(_postgres_fatal(code, message)))

    def cut(self) -> None:
        self._call(self._cut())

    def drop(self) -> None:
        self._call(self._drop())

    def freeze(self) -> None:
        self._call(self._freeze())

    def release(self) -> None:
        self._call(self._release())

    def restore(self) -> None:
        self._call(self._restore())

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # On the proxy's loop.

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _set_rejection(self, message: bytes) -> None:
        self.rejection = message
        await self._listen()

    async def _cut(self) -> None:
        for pipe in list(self._pipes):
            pipe.reset()

    async def _drop(self) -> None:
        for pipe in list(self._pipes):
            pipe.dropped = True
            if pipe.server is not None:
                pipe.server.transport.abort()

    async def _freeze(self) -> None:
        self.frozen = True

    async def _release(self) -> None:
        self.frozen = False
        for pipe in list(self._pipes):
            pipe.release()

    async def _restore(self) -> None:
        self.rejection = None
        await self._release()
        await self._listen()

    async def _shutdown(self) -> None:
        await self._close_listener()
        await self._cut()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        pipe = _Pipe(self, writer)
        self._pipes.add(pipe)
        try:
            if self.rejection is not None:
                await self._reject(reader, writer, self.rejection)
                return
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
            pipe.server = server_writer
            await asyncio.gather(
                self._forward(pipe, reader, server_writer, from_client=True),
                self._forward(pipe, server_reader, writer, from_client=False),
            )
        except OSError:
            pass
        finally:
            self._pipes.discard(pipe)
            pipe.reset()

    async def _forward(
        self,
        pipe: _Pipe,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        from_client: bool,
    ) -> None:
        while True:
            try:
                data = await reader.read(65536)
            except OSError:
                data = b""
            if not data:
                if pipe.dropped and not from_client:
                    return  # the client is not told: it finds out when it next sends
                pipe.reset()
                return
            if pipe.dropped:
                pipe.reset()  # the first bytes a client sends on a dropped connection
                return
            pipe.send(writer, data)

    @staticmethod
    async def _reject(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
    ) -> None:
        # Answer SSL/GSS requests "no", read the start-up packet, then refuse with FATAL.
        while True:
            length = struct.unpack("!I", await reader.readexactly(4))[0]
            body = await reader.readexactly(length - 4)
            code = struct.unpack("!I", body[:4])[0]
            if code in (_SSL_REQUEST, _GSS_REQUEST):
                writer.write(b"N")
                continue
            break
        writer.write(message)
        await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.contextmanager
def fault_proxy(upstream_host: str, upstream_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_host, upstream_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

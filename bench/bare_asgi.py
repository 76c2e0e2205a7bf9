"""The ceiling: a bare ASGI app with no framework, answering a tiny JSON body.

Served by hypercorn with the same settings as the service, it measures what the server,
the event loop and the load generator can do on this machine at this moment. Every bench
figure is also reported as a ratio to it.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

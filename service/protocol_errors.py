"""JSON for the answers hypercorn gives by itself, before any app sees the request.

h11 refuses a request line or headers larger than `h11_max_incomplete_size` (431) and a
request it cannot parse (400), and hypercorn sends that status with an empty body. The app
cannot shape it: there is no request yet. Raising the size only moves the line. Hypercorn
has no hook for these answers either, so `install()` replaces the one method that writes
them, giving them the API's error shape. tests/serving/test_protocol_errors.py runs a real
server against it, so an upgrade that changes the method fails there.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import h11
from hypercorn.protocol.h11 import H11Protocol

from service.jsonio import JSON_CONTENT_TYPE, dumps

_MESSAGES = {
    400: "is malformed",
    431: "line or headers are too large",
}


def error_body(status_code: int) -> bytes:
    message = _MESSAGES.get(status_code, "could not be read")
    return dumps({"errors": {"request": [message]}})


async def _send_error_response(self: Any, status_code: int) -> None:
    body = error_body(status_code)
    headers = [
        (b"content-type", JSON_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await self._send_h11_event(
        h11.Response(
            status_code=status_code,
            headers=list(chain(headers, self.config.response_headers("h11"))),
        )
    )
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


def install() -> None:
    """Make hypercorn's own HTTP/1.1 error answers JSON, in this process (idempotent)."""
    setattr(H11Protocol, "_send_error_response", _send_error_response)  # noqa: B010

"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol
from werkzeug.datastructures import Headers


async def error_of(response: Any, status: int) -> dict[str, list[str]]:
    """The `errors` map of a JSON error response with this status (fails on any other shape)."""
    body = await response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert response.content_type.startswith("application/json")
    assert set(body) == {"errors"}, body
    errors: dict[str, list[str]] = body["errors"]
    assert errors, body
    assert all(isinstance(v, list) and v for v in errors.values()), body
    return errors


async def raw_post(
    client: TestClientProtocol,
    path: str,
    data: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Any:
    all_headers = Headers(headers or {})
    all_headers["Content-Type"] = content_type
    return await client.open(path, method=method, data=data, headers=all_headers)

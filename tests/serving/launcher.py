"""Helpers for tests that run the production launcher (`python -m service.serve`)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from tests.live import BIN, Live

LAUNCHER = [str(BIN / "python"), "-m", "service.serve", "--config", "hypercorn.toml"]


def events(server: Live, name: str) -> list[dict[str, Any]]:
    """The launcher's JSON event lines called `name`, in order."""
    found = []
    for line in server.output().splitlines():
        if f'"event": "{name}"' in line:
            found.append(json.loads(line[line.index("{") :]))
    return found


def wait_for(check: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ready_pids(server: Live, count: int, timeout: float = 60) -> list[int]:
    """Wait until `count` workers report ready (more may have before); their pids, newest last."""

    def ready() -> list[int] | None:
        pids = [e["pid"] for e in events(server, "worker_ready")]
        return pids if len(pids) >= count else None

    pids: list[int] = wait_for(ready, timeout, f"{count} ready workers")
    return pids


def gauge(text: str, name: str) -> float:
    """A gauge's value in Prometheus text (0 when absent)."""
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def in_flight(http: httpx.AsyncClient) -> float:
    """Requests in flight across every worker, not counting this scrape."""
    response = await http.get("/metrics")
    return gauge(response.text, "http_requests_in_flight") - 1

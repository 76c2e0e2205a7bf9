"""/metrics stays small and never stalls the event loop: made-up methods and unmatched paths
share fixed labels, and the text is rendered off the loop."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

FIXED_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


async def _labels(client, name: str) -> set[str]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = (await response.get_data()).decode()
    return {
        sample.labels[name]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if name in sample.labels
    }


async def test_made_up_methods_and_paths_add_no_series(client):
    for n in range(40):
        response = await client.open(f"/api/articles/a{n}", method=f"X{n:03d}" + "Q" * 300)
        assert response.status_code in (404, 405)
        await client.open(f"/nowhere/{n}", method="GET")
    methods = await _labels(client, "method")
    assert methods <= FIXED_METHODS, sorted(methods - FIXED_METHODS)[:3]
    assert "other" in methods
    routes = await _labels(client, "route")
    assert not any(route.startswith("/nowhere") for route in routes)
    assert "unmatched" in routes


class StallingCollector:
    """A collector that takes as long as the test says: a huge registry, in effect."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()

    def describe(self) -> list[object]:
        return []

    def collect(self) -> list[object]:
        self.entered.set()
        self.release.wait(20)  # the test releases it once /healthz has answered
        self.done.set()
        return []


async def test_rendering_metrics_does_not_block_the_event_loop(client):
    stalling = StallingCollector()
    REGISTRY.register(stalling)
    try:
        scrape = asyncio.create_task(client.get("/metrics"))
        assert await asyncio.to_thread(stalling.entered.wait, 5)
        health = await asyncio.wait_for(client.get("/healthz"), timeout=10)
        assert health.status_code == 200
        # Answered while the scrape was still collecting: the loop was free meanwhile.
        assert not stalling.done.is_set()
        stalling.release.set()
        assert (await scrape).status_code == 200
    finally:
        stalling.release.set()
        REGISTRY.unregister(stalling)

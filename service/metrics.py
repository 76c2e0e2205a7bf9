"""Prometheus metrics at /metrics: requests by route template and status, latency, in-flight
requests, database pool use.

Several hypercorn workers are several processes: with `PROMETHEUS_MULTIPROC_DIR` set (the
launcher `service.serve` sets it) every worker writes its samples there and a scrape of any
worker adds them up, so counts are right whichever worker answers. Without it, each process
reports its own figures (fine for one worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from quart import Blueprint, Quart, Response, current_app, g, request
from quart_schema import tag

from service.routes.apidoc import Answer, answers, without_database

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being handled", multiprocess_mode="livesum")
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)

bp = Blueprint("metrics", __name__)
log = logging.getLogger("service.metrics")

# Async callables in app.extensions[COLLECTORS], each returning metric families computed at
# scrape time (the job queue's state, read from the database: the same for every process).
COLLECTORS = "metrics_collectors"
COLLECT_TIMEOUT_SECONDS = 2.0
ScrapeCollector = Callable[[], Awaitable[list[Metric]]]


class _Computed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def _scraped() -> bytes:
    families: list[Metric] = []
    for collect in current_app.extensions.get(COLLECTORS, []):
        try:
            async with asyncio.timeout(COLLECT_TIMEOUT_SECONDS):
                families.extend(await collect())
        except Exception:  # a slow or failing source must not cost the other metrics
            log.warning("metrics collector %s failed", getattr(collect, "__name__", collect))
    if not families:
        return b""
    registry = CollectorRegistry()
    registry.register(_Computed(families))
    return generate_latest(registry)


# Any token is a valid HTTP method: a label per method sent would let one client add series
# without bound (2,000 made-up methods made /metrics 70 MB). The rest share "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method() -> str:
    method = request.method
    return method if method in KNOWN_METHODS else "other"


def _route() -> str:
    # The rule, not the path: /api/articles/<slug:slug> is one series, whatever the slug; every
    # path that matches no rule is one series too.
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


# Each label set's series, found once: `labels()` checks, converts and locks on every call.
# As many keys as there are series: methods and routes are bounded above, statuses by the app.
_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    found = _SERIES.get((method, route, status))
    if found is None:
        found = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _SERIES[(method, route, status)] = found
    return found


def init_app(app: Quart) -> None:
    @app.before_request
    async def _start() -> None:
        g.metrics_started = time.perf_counter()
        g.metrics_counted = True
        IN_FLIGHT.inc()

    @app.after_request
    async def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            count, latency = _series(_method(), _route(), response.status_code)
            count.inc()
            latency.observe(time.perf_counter() - started)
        return response

    @app.teardown_request
    async def _finish(_exc: BaseException | None) -> None:
        if g.pop("metrics_counted", False):
            IN_FLIGHT.dec()
        database = app.extensions.get("db")
        if database is not None and database.connected:
            POOL_IN_USE.set(database.checked_out())

    app.register_blueprint(bp)


def _render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@bp.get("/metrics")
@tag(["operations"])
@without_database  # the job queue's gauges are left out if it fails
@answers(
    Answer(
        200,
        "The metrics in Prometheus' text format.",
        "text/plain",
        example='http_requests_total{method="GET",route="/api/tags",status="200"} 3.0\n',
    )
)
async def metrics() -> Response:
    """Prometheus metrics.

    `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route}`
    (by route template), `http_requests_in_flight`, `db_pool_connections_in_use`, with a read
    replica `db_replica_state{state}` (1 for each state some worker sees it in), the job
    queue's `jobs_*` gauges, and the process's own. Keep it on the internal network.
    """
    # Collecting reads every worker's file and formats every series: in a thread, so a large
    # or slow scrape never holds up the requests (and health checks) on this event loop.
    body = await asyncio.to_thread(_render)
    return Response(body + await _scraped(), content_type=CONTENT_TYPE_LATEST)

"""The targets of issue 17 ("performance round two"), judged from one run's figures.

`evaluate` takes a run's results (LoadResult dicts, as results.json holds them) and its meta
(login storm, worker RSS); `evaluate_soak` a soak's samples. Each target comes out met, not
met, or not measured (the run left it out: a scenario, a connection count, the storm). The
bench reports them; it does not fail on them (speed on a shared host is no CI verdict).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CONNECTIONS = 64  # the ratios' connection count
TAIL_CONNECTIONS = 256

# Reads measured against their stack-limit twin (bench/stack_limit.py): at least this share.
STACK_LIMIT_READS = ("list_articles", "list_by_tag", "feed", "article", "profile", "current_user")
STACK_LIMIT_SHARE = 0.60
# A read without a twin in the run must reach 1.5x its ratio to the bare app before this round:
# docs/bench/results.json of 2026-11-25 20:32 UTC (large set, 64 connections).
BASELINE_RATIO_TO_BARE = {
    "list_articles": 0.1249,
    "list_by_tag": 0.1223,
    "feed": 0.0961,
    "article": 0.1750,
    "profile": 0.2241,
    "current_user": 0.2685,
}
BASELINE_GAIN = 1.5
# Writes and the mixed profile: their ratio to the bare app.
RATIO_TO_BARE = {"create_article": 0.10, "favorite": 0.12, "mixed": 0.15}
TAIL_RATIO = 4.0  # p99 over p50 at 256 connections, every read
STORM_RATIO = 3.0  # GET /api/tags p99 during a login storm over idle
DEEP_P50_RATIO = 2.0  # list_deep's p50 over list_articles' p50
RSS_IDLE_MB = 120.0  # every worker, idle after the run
SOAK_RSS_GROWTH = 0.05  # every worker, from minute 2 to the end of the soak
# "No throughput decay": the median req/s of the soak's last 3 minutes is at least 90 % of the
# median over minutes 2 to 5 (after warm-up); needs a soak of 8 minutes or more.
DECAY_SHARE = 0.90
DECAY_EARLY = (2.0, 5.0)
DECAY_LATE_MINUTES = 3.0


@dataclass(frozen=True)
class Target:
    name: str  # what is asked, with its threshold
    measured: str
    met: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else "met" if self.met else "not met"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


Row = Mapping[str, Any]


def _row(results: Iterable[Row], scenario: str, connections: int, server: str) -> Row | None:
    """The figures of a scenario on a server; None when it was not run or completed nothing
    (an overloaded host can leave a scenario with no answer inside its window)."""
    for row in results:
        if (
            row["scenario"] == scenario
            and row["connections"] == connections
            and row.get("server", "service") == server
        ):
            return row if row["requests"] else None
    return None


def _missing(name: str, what: str) -> Target:
    return Target(name, f"no {what} with answers in this run", None)


def _read_target(results: Sequence[Row], scenario: str) -> Target:
    service = _row(results, scenario, CONNECTIONS, "service")
    twin = _row(results, scenario, CONNECTIONS, "stack_limit")
    if twin is not None:
        name = f"{scenario} ≥ {STACK_LIMIT_SHARE:.0%} of its stack limit ({CONNECTIONS} conns)"
        if service is None:
            return _missing(name, f"{scenario} at {CONNECTIONS} connections")
        share = service["rps"] / twin["rps"]
        measured = f"{share:.1%} ({service['rps']:,.0f} of {twin['rps']:,.0f} req/s)"
        return Target(name, measured, share >= STACK_LIMIT_SHARE)
    goal = BASELINE_GAIN * BASELINE_RATIO_TO_BARE[scenario]
    ran = any(
        row["scenario"] == scenario
        and row["connections"] == CONNECTIONS
        and row.get("server") == "stack_limit"
        for row in results
    )
    why = "its stack limit answered nothing" if ran else "no stack-limit twin"
    name = (
        f"{scenario} ({why}) ≥ {goal:.1%} of the bare app "
        f"({BASELINE_GAIN}× {BASELINE_RATIO_TO_BARE[scenario]:.1%}, {CONNECTIONS} conns)"
    )
    if service is None or service.get("ratio_to_ceiling") is None:
        return _missing(name, f"{scenario} at {CONNECTIONS} connections")
    ratio = service["ratio_to_ceiling"]
    return Target(name, f"{ratio:.1%} of the bare app", ratio >= goal)


def _bare_target(results: Sequence[Row], scenario: str, share: float) -> Target:
    name = f"{scenario} ≥ {share:.0%} of the bare app ({CONNECTIONS} conns)"
    row = _row(results, scenario, CONNECTIONS, "service")
    if row is None or row.get("ratio_to_ceiling") is None:
        return _missing(name, f"{scenario} at {CONNECTIONS} connections")
    ratio = row["ratio_to_ceiling"]
    return Target(name, f"{ratio:.1%} ({row['rps']:,.0f} req/s)", ratio >= share)


def _tail_target(row: Row) -> Target:
    name = f"{row['scenario']}: p99 ≤ {TAIL_RATIO:g}× p50 at {TAIL_CONNECTIONS} conns"
    ratio = row["p99_ms"] / row["p50_ms"]
    measured = f"×{ratio:.2f} (p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms)"
    return Target(name, measured, ratio <= TAIL_RATIO)


def _storm_target(meta: Mapping[str, Any]) -> Target:
    name = f"login storm: GET /api/tags p99 ≤ {STORM_RATIO:g}× idle"
    storm = meta.get("login_storm")
    if not storm or not storm["tags_idle_p99_ms"] or not storm["tags_storm_p99_ms"]:
        return _missing(name, "login storm")
    measured = (
        f"×{storm['ratio']} ({storm['tags_idle_p99_ms']:.1f} → {storm['tags_storm_p99_ms']:.1f} ms)"
    )
    return Target(name, measured, storm["ratio"] <= STORM_RATIO)


def _deep_target(results: Sequence[Row]) -> Target:
    name = (
        f"list_deep (offset 10,000) p50 ≤ {DEEP_P50_RATIO:g}× list_articles' ({CONNECTIONS} conns)"
    )
    deep = _row(results, "list_deep", CONNECTIONS, "service")
    first = _row(results, "list_articles", CONNECTIONS, "service")
    if deep is None or first is None or not first["p50_ms"] or not deep["p50_ms"]:
        return _missing(name, "list_deep and list_articles")
    ratio = deep["p50_ms"] / first["p50_ms"]
    measured = f"×{ratio:.2f} ({deep['p50_ms']:.1f} vs {first['p50_ms']:.1f} ms)"
    return Target(name, measured, ratio <= DEEP_P50_RATIO)


def _rss_target(meta: Mapping[str, Any]) -> Target:
    name = f"worker RSS ≤ {RSS_IDLE_MB:g} MB idle after the run"
    after: Mapping[Any, float] = meta.get("rss_mb_after") or {}
    if not after:
        return _missing(name, "RSS after the run")
    largest = max(after.values())
    workers = ", ".join(f"{mb:.1f}" for mb in after.values())
    return Target(name, f"{largest:.1f} MB (workers: {workers})", largest <= RSS_IDLE_MB)


def evaluate(results: Sequence[Row], meta: Mapping[str, Any], reads: Sequence[str]) -> list[Target]:
    """Every target of a `run`; `reads` are the read scenarios the p99/p50 target covers."""
    found = [_read_target(results, scenario) for scenario in STACK_LIMIT_READS]
    found += [_bare_target(results, s, share) for s, share in RATIO_TO_BARE.items()]
    tails = [
        row
        for scenario in reads
        if (row := _row(results, scenario, TAIL_CONNECTIONS, "service")) is not None
    ]
    found += [_tail_target(row) for row in tails if row["p50_ms"]] or [
        _missing(f"reads: p99 ≤ {TAIL_RATIO:g}× p50", f"read at {TAIL_CONNECTIONS} connections")
    ]
    found += [_storm_target(meta), _deep_target(results), _rss_target(meta)]
    return found


def evaluate_soak(samples: Sequence[Mapping[str, Any]]) -> list[Target]:
    """RSS growth from minute 2 and throughput decay (see DECAY_SHARE) over a soak."""
    growth_name = f"soak: worker RSS growth ≤ {SOAK_RSS_GROWTH:.0%} from minute 2"
    decay_name = (
        f"soak: last {DECAY_LATE_MINUTES:g} minutes' median req/s ≥ {DECAY_SHARE:.0%} of "
        f"minutes {DECAY_EARLY[0]:g}–{DECAY_EARLY[1]:g}"
    )
    settled = [s for s in samples if s["minute"] >= DECAY_EARLY[0]]
    if len(settled) < 2:
        return [_missing(growth_name, "samples after minute 2"), _missing(decay_name, "soak")]
    first, last = settled[0]["rss_mb"], settled[-1]["rss_mb"]
    growths = [(last[pid] - mb) / mb for pid, mb in first.items() if pid in last and mb]
    growth = (
        Target(
            growth_name,
            ", ".join(f"{g:+.1%}" for g in growths),
            max(growths) <= SOAK_RSS_GROWTH,
        )
        if growths
        else _missing(growth_name, "worker RSS")
    )
    end = samples[-1]["minute"]
    early = [s["rps"] for s in settled if s["minute"] <= DECAY_EARLY[1]]
    late = [
        s["rps"] for s in settled if s["minute"] > max(end - DECAY_LATE_MINUTES, DECAY_EARLY[1])
    ]
    if not early or not late or end - DECAY_LATE_MINUTES < DECAY_EARLY[1]:
        return [growth, _missing(decay_name, "soak of 8 minutes or more")]
    head, tail = statistics.median(early), statistics.median(late)
    share = tail / head if head else 0.0
    measured = f"{share:.1%} ({tail:,.0f} vs {head:,.0f} req/s)"
    return [growth, Target(decay_name, measured, share >= DECAY_SHARE)]

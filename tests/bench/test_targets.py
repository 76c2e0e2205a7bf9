"""The bench's target verdicts (bench/targets.py) from small, made-up runs."""

from __future__ import annotations

from typing import Any

import pytest

from bench.targets import BASELINE_RATIO_TO_BARE, evaluate, evaluate_soak

READS = ["list_articles", "list_deep", "article"]


def row(
    scenario: str,
    connections: int = 64,
    *,
    rps: float = 100.0,
    ratio: float | None = 0.5,
    p50: float = 10.0,
    p99: float = 20.0,
    server: str = "service",
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "connections": connections,
        "requests": round(rps * 10),
        "rps": rps,
        "ratio_to_ceiling": ratio,
        "p50_ms": p50,
        "p99_ms": p99,
        "server": server,
    }


def verdicts(results: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[str, str]:
    return {t.name: t.verdict for t in evaluate(results, meta or {}, reads=READS)}


def find(found: dict[str, str], start: str) -> str:
    (verdict,) = [v for name, v in found.items() if name.startswith(start)]
    return verdict


@pytest.mark.parametrize(("service_rps", "verdict"), [(60.0, "met"), (59.9, "not met")])
def test_a_read_is_judged_against_its_stack_limit_twin(service_rps: float, verdict: str) -> None:
    found = verdicts(
        [row("list_articles", rps=service_rps), row("list_articles", rps=100, server="stack_limit")]
    )
    assert find(found, "list_articles ≥ 60% of its stack limit") == verdict


def test_a_read_without_a_twin_needs_one_and_a_half_times_its_baseline() -> None:
    goal = 1.5 * BASELINE_RATIO_TO_BARE["article"]
    met = verdicts([row("article", ratio=goal + 0.001)])
    short = verdicts([row("article", ratio=goal - 0.001)])
    assert find(met, "article (no stack-limit twin)") == "met"
    assert find(short, "article (no stack-limit twin)") == "not met"


def test_the_twin_of_another_connection_count_does_not_count() -> None:
    # 90 % of a twin at 256 connections; 10 % of the bare app, short of 1.5 x 9.6 %.
    found = verdicts(
        [row("feed", rps=90, ratio=0.10), row("feed", 256, rps=100, server="stack_limit")]
    )
    assert find(found, "feed (no stack-limit twin)") == "not met"


def test_writes_and_mixed_against_the_bare_app() -> None:
    found = verdicts(
        [
            row("create_article", ratio=0.10),
            row("favorite", ratio=0.119),
            row("mixed", ratio=0.2),
        ]
    )
    assert find(found, "create_article ≥ 10%") == "met"
    assert find(found, "favorite ≥ 12%") == "not met"
    assert find(found, "mixed ≥ 15%") == "met"


def test_tails_at_256_connections_for_every_read_measured() -> None:
    found = verdicts(
        [
            row("list_articles", 256, p50=100, p99=400),
            row("list_deep", 256, p50=100, p99=401),
            row("login", 256, p50=1, p99=100),  # not a read
        ]
    )
    assert find(found, "list_articles: p99") == "met"
    assert find(found, "list_deep: p99") == "not met"
    assert not [name for name in found if name.startswith("login:")]


def test_deep_page_storm_and_rss() -> None:
    meta = {
        "login_storm": {"ratio": 3.01, "tags_idle_p99_ms": 10.0, "tags_storm_p99_ms": 30.1},
        "rss_mb_after": {"1": 119.0, "2": 120.5},
    }
    found = verdicts([row("list_articles", p50=50), row("list_deep", p50=100)], meta)
    assert find(found, "list_deep (offset 10,000)") == "met"
    assert find(found, "login storm") == "not met"
    assert find(found, "worker RSS") == "not met"
    slow = verdicts([row("list_articles", p50=50), row("list_deep", p50=100.5)])
    assert find(slow, "list_deep (offset 10,000)") == "not met"


def test_what_the_run_left_out_is_not_measured() -> None:
    found = verdicts([])
    assert set(found.values()) == {"not measured"}
    assert len(found) == 6 + 3 + 1 + 3


def test_a_scenario_that_completed_nothing_is_not_measured() -> None:
    # What an overloaded host left: wrk's window closed before any answer came.
    silent = [
        row("list_articles", rps=0, p50=0, p99=0),
        row("list_articles", rps=100, server="stack_limit"),
        row("list_deep", rps=0, p50=0, p99=0),
        row("list_deep", 256, rps=0, p50=0, p99=0),
    ]
    storm = {"login_storm": {"ratio": 0.0, "tags_idle_p99_ms": 0.0, "tags_storm_p99_ms": 0.0}}
    found = verdicts(silent, storm)
    assert find(found, "list_articles ≥ 60%") == "not measured"
    silent_twin = verdicts(
        [row("article", ratio=0.3), row("article", rps=0, p50=0, p99=0, server="stack_limit")]
    )
    assert find(silent_twin, "article (its stack limit answered nothing)") == "met"
    assert find(found, "list_deep (offset 10,000)") == "not measured"
    assert find(found, "login storm") == "not measured"
    assert find(found, "reads: p99") == "not measured"


def samples(rps: list[float], rss: list[float]) -> list[dict[str, Any]]:
    """One sample every half minute, from minute 0.5."""
    return [
        {"minute": (n + 1) / 2, "rps": r, "rss_mb": {"7": mb}}
        for n, (r, mb) in enumerate(zip(rps, rss, strict=True))
    ]


def test_soak_growth_and_decay() -> None:
    steady = samples([100.0] * 20, [100.0] * 20)
    assert [t.verdict for t in evaluate_soak(steady)] == ["met", "met"]
    # The last three minutes (6 samples) at 89 % of minutes 2 to 5, RSS up 5.1 %.
    decayed = samples([100.0] * 14 + [89.0] * 6, [100.0] * 19 + [105.1])
    assert [t.verdict for t in evaluate_soak(decayed)] == ["not met", "not met"]


def test_a_short_soak_cannot_show_decay() -> None:
    short = samples([100.0] * 12, [100.0] * 12)  # 6 minutes
    growth, decay = evaluate_soak(short)
    assert growth.verdict == "met"
    assert decay.verdict == "not measured"


def test_a_soak_runs_whole_intervals_only() -> None:
    """No short last run: wrk's least is a second with every connection opened anew, and its
    sample (254 req/s among 600-700 in the 2026-12-02 soak) counted in the last minutes."""
    from bench.__main__ import soak_intervals

    assert soak_intervals(10, 30) == [30] * 20
    assert soak_intervals(1.5, 20) == [20] * 4  # 90 s: the nearest whole number of runs
    assert soak_intervals(0.1, 30) == [30]

"""Bench output: a markdown table, a JSON file and PNG charts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here
import matplotlib.pyplot as plt

from bench.harness import LoadResult


def label(r: LoadResult) -> str:
    """A row's name: the scenario, marked when the stack limit answered it."""
    return f"{r.scenario} (stack limit)" if r.server == "stack_limit" else r.scenario


def markdown_table(results: list[LoadResult]) -> str:
    lines = [
        "| scenario | conns | req/s | ratio to bare app | ratio to stack limit | p50 ms | p90 ms "
        "| p99 ms | errors | non-2xx | SQL/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = f"{r.ratio_to_ceiling:.1%}" if r.ratio_to_ceiling is not None else "-"
        to_limit = f"{r.ratio_to_stack_limit:.1%}" if r.ratio_to_stack_limit is not None else "-"
        statements = "-" if r.statements_per_request is None else str(r.statements_per_request)
        non_2xx = f"{r.non_2xx:,}" + (f" ({r.shed_503:,} shed, 503)" if r.shed_503 else "")
        lines.append(
            f"| {label(r)} | {r.connections} | {r.rps:,.0f} | {ratio} | {to_limit} "
            f"| {r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {non_2xx} "
            f"| {statements} |"
        )
    return "\n".join(lines)


def write_json(path: Path, meta: dict[str, Any], results: list[LoadResult]) -> None:
    payload = {**meta, "results": [r.as_dict() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")


def chart(path: Path, results: list[LoadResult], title: str) -> None:
    """req/s and p99 per scenario, one bar per connection count."""
    scenarios = list(dict.fromkeys(label(r) for r in results))
    conns = sorted({r.connections for r in results})
    by_key = {(label(r), r.connections): r for r in results}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(12, 0.5 * len(scenarios)), 8), sharex=True)
    width = 0.8 / max(1, len(conns))
    for n, c in enumerate(conns):
        xs = [i + n * width for i in range(len(scenarios))]
        top.bar(
            xs,
            [by_key[(s, c)].rps if (s, c) in by_key else 0 for s in scenarios],
            width,
            label=f"{c} connections",
        )
        bottom.bar(
            xs,
            [by_key[(s, c)].p99_ms if (s, c) in by_key else 0 for s in scenarios],
            width,
            label=f"{c} connections",
        )
    top.set_ylabel("requests/s")
    top.set_title(title)
    top.legend()
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_yscale("log")
    bottom.set_xticks([i + width * (len(conns) - 1) / 2 for i in range(len(scenarios))])
    bottom.set_xticklabels(scenarios, rotation=35, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def soak_chart(path: Path, samples: list[dict[str, Any]], title: str) -> None:
    """RSS per worker and p99 over time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    minutes = [s["minute"] for s in samples]
    pids = sorted({pid for s in samples for pid in s["rss_mb"]})
    for pid in pids:
        top.plot(
            minutes, [s["rss_mb"].get(pid) for s in samples], marker=".", label=f"worker {pid}"
        )
    top.set_ylabel("RSS (MB)")
    top.set_title(title)
    top.legend()
    bottom.plot(minutes, [s["p99_ms"] for s in samples], marker=".", color="tab:red")
    bottom.set_ylabel("p99 (ms)")
    bottom.set_xlabel("minute")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_markdown(meta: dict[str, Any], table: str) -> str:
    lines = [
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}, {meta['cpus']} CPUs, "
        f"{meta['workers']} workers, {meta['seconds_per_scenario']} s per scenario, "
        f"data set `{meta['dataset']}`",
        "",
        table,
        "",
    ]
    before, after = meta.get("rss_mb_before", {}), meta.get("rss_mb_after", {})
    loaded = meta.get("rss_mb_after_load", {})
    if after:
        pairs = ", ".join(
            f"{before.get(pid, '?')} → {loaded.get(pid, '?')} → {mb} MB"
            for pid, mb in after.items()
        )
        lines.append(
            "Worker RSS before the run → as the load stops (hashes in progress) → idle after: "
            + pairs
        )
    storm = meta.get("login_storm")
    if storm:
        lines.append(
            f"Login storm (32 connections logging in): `GET /api/tags` p99 idle "
            f"{storm['tags_idle_p99_ms']:.1f} ms, during the storm {storm['tags_storm_p99_ms']:.1f}"
            f" ms (×{storm['ratio']}); {storm['logins_per_s']:.1f} logins/s"
            f" ({storm.get('logins_shed', 0)} shed with 503)"
        )
    for scenario, figures in meta.get("scale", {}).items():
        if "large_p50_ms" in figures:
            lines.append(
                f"Scale, {scenario} at 64 connections: p50 small {figures['small_p50_ms']:.1f} ms,"
                f" large {figures['large_p50_ms']:.1f} ms (×{figures['p50_large_over_small']})"
            )
    compared = meta.get("stack_limit_compared")
    if compared is not None:
        lines.append(
            f"Stack limit: its answers equal the service's byte for byte (status, content type,"
            f" body) on {compared} URLs of the seeded data (bench/compare.py)."
        )
    targets = meta.get("targets")
    if targets:
        lines += ["", "Targets (issue 17):", "", targets_table(targets)]
    return "\n".join(lines) + "\n"


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met / not met |", "| --- | --- | --- |"]
    lines += [f"| {t['name']} | {t['measured']} | {t['verdict']} |" for t in targets]
    return "\n".join(lines)


def soak_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS growth and p99 drift from minute 2 to the end, as the targets define them."""
    settled = [s for s in samples if s["minute"] >= 2] or samples
    first, last = settled[0], settled[-1]
    growth = {
        pid: round((last["rss_mb"][pid] - mb) / mb, 4)
        for pid, mb in first["rss_mb"].items()
        if pid in last["rss_mb"] and mb
    }
    drift = (last["p99_ms"] - first["p99_ms"]) / first["p99_ms"] if first["p99_ms"] else 0.0
    # One 30 s sample's p99 moves ±20 % on a shared machine; medians of the first and the
    # last four samples after minute 2 say whether the tail really drifts.
    window = min(4, len(settled) // 2) or 1
    head = statistics.median(s["p99_ms"] for s in settled[:window])
    tail = statistics.median(s["p99_ms"] for s in settled[-window:])
    return {
        "samples": len(samples),
        "rss_growth_from_minute_2": growth,
        "p99_drift_from_minute_2": round(drift, 4),
        "p99_median_drift": round((tail - head) / head, 4) if head else 0.0,
        "errors": sum(s["errors"] for s in samples),
        "non_2xx": sum(s["non_2xx"] for s in samples),
    }


def write_soak(path: Path, summary: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2) + "\n")


def soak_markdown(summary: dict[str, Any]) -> str:
    growth = ", ".join(f"{v:+.1%}" for v in summary["rss_growth_from_minute_2"].values())
    return (
        f"Soak: {summary['samples']} samples; RSS growth per worker from minute 2: {growth}; "
        f"p99 drift from minute 2: {summary['p99_drift_from_minute_2']:+.1%} (sample to sample), "
        f"{summary['p99_median_drift']:+.1%} (median of the first four to the last four); "
        f"errors {summary['errors']}, non-2xx {summary['non_2xx']}\n"
    )


def ab_summary(rounds: dict[str, dict[str, list[LoadResult]]]) -> list[dict[str, Any]]:
    """Per scenario: each side's req/s in every round, their medians, new over old."""
    rows = []
    for key, sides in rounds.items():
        old = [r.rps for r in sides.get("old", [])]
        new = [r.rps for r in sides.get("new", [])]
        old_p50 = statistics.median(r.p50_ms for r in sides["old"]) if old else 0.0
        new_p50 = statistics.median(r.p50_ms for r in sides["new"]) if new else 0.0
        old_median = statistics.median(old) if old else 0.0
        new_median = statistics.median(new) if new else 0.0
        rows.append(
            {
                "scenario": key,
                "old_rps": old,
                "new_rps": new,
                "old_median": old_median,
                "new_median": new_median,
                "ratio": round(new_median / old_median, 3) if old_median else None,
                "old_p50_ms": old_p50,
                "new_p50_ms": new_p50,
                "errors": sum(r.unexpected for rs in sides.values() for r in rs),
            }
        )
    return rows


def ab_markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"A/B `{meta['command']}`, {meta['date']}: old = `{meta['old']}`, new = {meta['new']}.",
        "",
        "| scenario | old req/s (rounds) | new req/s (rounds) | new/old (medians) "
        "| p50 ms old → new | errors |",
        "| --- | --- | --- | ---: | --- | ---: |",
    ]
    for row in rows:
        old = ", ".join(f"{v:,.0f}" for v in row["old_rps"])
        new = ", ".join(f"{v:,.0f}" for v in row["new_rps"])
        ratio = f"{row['ratio']:.2f}×" if row["ratio"] is not None else "-"
        lines.append(
            f"| {row['scenario']} | {old} | {new} | {ratio} "
            f"| {row['old_p50_ms']:.1f} → {row['new_p50_ms']:.1f} | {row['errors']} |"
        )
    return "\n".join(lines) + "\n"

"""The login storm side by side: an older commit and the working tree on one database.

`python -m bench.storm_ab --old REV [--rounds 4] [--seconds 8] --out DIR` starts both servers
(production launcher, 2 workers) on the seeded large set (`python -m bench run` or `soak` makes
it), then in every round runs the bench's login storm on each, the order swapped from round to
round, so the host's drift falls on both alike. It prints, per server, each round's ratio of
GET /api/tags p99 (storm over idle), logins/s and logins shed, their medians, and the workers'
RSS once idle after the last storm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.__main__ import (
    SECRET_KEY,
    database_url,
    login_storm,
    server_env,
    service_command,
    settled_rss,
)
from bench.data import DATASETS, bench_data
from bench.harness import (
    DEFAULT_DATABASE,
    ROOT,
    Server,
    checkout_old,
    free_port,
    remove_old,
    require_wrk,
    start_server,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm_ab", description=__doc__)
    parser.add_argument("--old", default="HEAD")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
    )
    args = parser.parse_args(argv)
    require_wrk()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    spec = DATASETS["large"]
    url = database_url(args.database, spec.name)
    data_file = out / "data-large.lua"
    bench_data(spec, SECRET_KEY).write_lua(data_file)
    old_tree = checkout_old(args.old, out)
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    rss: dict[str, dict[int, float]] = {}
    servers: dict[str, Server] = {}
    try:
        for label, cwd in (("old", old_tree), ("new", ROOT)):
            port = free_port()
            env = server_env(url, args.workers)
            # A busy shared host can take minutes to start two workers.
            servers[label] = start_server(
                label, service_command(port), env, port, out, timeout=300, cwd=cwd
            )
        for n in range(args.rounds):
            order = ["old", "new"] if n % 2 == 0 else ["new", "old"]
            for label in order:
                figures = login_storm(servers[label], data_file, args.seconds)
                results[label].append(figures)
                print(f"round {n + 1} {label}: {json.dumps(figures)}", flush=True)
        for label, server in servers.items():
            rss[label] = settled_rss(server)
    finally:
        for server in servers.values():
            server.stop()
        remove_old(old_tree)
    summary: dict[str, Any] = {}
    for label, rounds in results.items():
        summary[label] = {
            "ratios": [r["ratio"] for r in rounds],
            "median_ratio": statistics.median(r["ratio"] for r in rounds),
            "median_logins_per_s": statistics.median(r["logins_per_s"] for r in rounds),
            "shed": sum(r["logins_shed"] for r in rounds),
            "errors": sum(r["login_errors"] for r in rounds),
            "idle_rss_mb": rss.get(label, {}),
        }
    (out / "storm_ab.json").write_text(json.dumps({"rounds": results, "summary": summary}))
    print(json.dumps(summary, indent=1))
    return 1 if any(s["errors"] for s in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

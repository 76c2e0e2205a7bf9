"""The load bench: `python -m bench run | soak | smoke` (see README, "Performance").

ab     side by side: the service at an older commit (a git worktree) and the working tree, on
       one database, the scenarios measured in alternating rounds; medians and new/old ratios.
run    fresh PostgreSQL database per data set, migrated and seeded; the ceilings (bare ASGI app,
       a Quart route with no I/O, and the stack limit: the service's own statements on raw
       asyncpg, checked byte for byte against the service first) and every scenario at 64 and
       256 connections, the scale check on the small set, a login storm; the targets met or
       not; a table, JSON and a chart in the output folder.
soak   the mixed profile for N minutes, RSS per worker and p99 every 30 s, with a chart and
       the soak's targets.
smoke  the small set, a second or two per scenario, the stack limit's byte-for-byte check and
       a second of its reads; fails on any error, non-2xx or difference (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench import compare
from bench import targets as bench_targets
from bench.autovacuum import Autovacuum, run_once
from bench.data import DATASETS, BenchData, DataSet, bench_data, production_password_hash, seed
from bench.harness import (
    DEFAULT_DATABASE,
    ROOT,
    LoadResult,
    Server,
    checkout_old,
    free_port,
    remove_old,
    require_wrk,
    run_wrk,
    spawn_server,
    start_server,
    wait_ready,
)
from bench.service_sql import all_sql, service_statements
from bench.statements import statements_seen
from service.config import load_config
from service.crypto import PasswordHasher

BIN = Path(sys.executable).parent
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnop"
READS = [
    "list_articles",
    "list_articles_token",
    "list_deep",
    "list_by_tag",
    "feed",
    "article",
    "comments",
    "profile",
    "current_user",
    "tags",
]
WRITES = ["login", "create_article", "favorite"]
SCALE = ["list_articles", "feed", "list_by_tag"]
# The reads the stack limit (bench/stack_limit.py) answers: each is measured on it too.
STACK_LIMIT = [
    "list_articles",
    "list_articles_token",
    "list_deep",
    "list_by_tag",
    "feed",
    "article",
    "profile",
    "current_user",
]


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- database -------------------------------------------------------------------------------


# Bench databases are named PREFIX_<data set>; a prefix of one's own keeps two benches on one
# server (two people, or a bench beside an A/B run) from dropping each other's data.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "conduit_bench")


def database_url(base: str, dataset: str) -> str:
    url = make_url(base).set(drivername="postgresql+asyncpg", database=f"{DB_PREFIX}_{dataset}")
    return url.render_as_string(hide_password=False)


def plain_dsn(url: str, database: str | None = None) -> str:
    target = make_url(url).set(drivername="postgresql")
    if database:
        target = target.set(database=database)
    return target.render_as_string(hide_password=False)


async def recreate_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(plain_dsn(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def prepare(spec: DataSet, base_url: str) -> tuple[str, BenchData]:
    """A fresh database for the data set: created, migrated, seeded."""
    url = database_url(base_url, spec.name)
    log(f"database {make_url(url).database}: create, migrate, seed {spec.name}")
    asyncio.run(recreate_database(url))
    subprocess.run(
        [str(BIN / "alembic"), "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, "APP_ENV": "testing", "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    settings = load_config("production", database_url=url, secret_key=SECRET_KEY)
    hasher = PasswordHasher.from_settings(settings, threads=1)
    started = time.monotonic()
    asyncio.run(seed(plain_dsn(url), spec, production_password_hash(hasher)))
    hasher.close()
    log(f"seeded in {time.monotonic() - started:.1f}s")
    return url, bench_data(spec, SECRET_KEY)


# --- servers --------------------------------------------------------------------------------


def server_env(url: str, workers: int) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": url,
        "WEB_CONCURRENCY": str(workers),
        # The login scenarios measure hashing, not the limiter or the per-address share of
        # the hashing threads: one client address sends all.
        "LOGIN_RATE_LIMIT_PER_ADDRESS": "1000000",
        "LOGIN_RATE_LIMIT_PER_ACCOUNT": "1000000",
        "LOGIN_RATE_LIMIT_PER_ACCOUNT_ADDRESS": "1000000",
        "HASH_QUEUE_PER_ADDRESS": "10000",
    }


def hypercorn_command(app: str, port: int, workers: int) -> list[str]:
    return [
        str(BIN / "hypercorn"),
        "--config",
        "hypercorn.toml",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]


def service_command(port: int) -> list[str]:
    # The production launcher, reading hypercorn.toml (workers from WEB_CONCURRENCY).
    return [str(BIN / "python"), "-m", "service.serve", "--bind", f"127.0.0.1:{port}"]


def start_bare(out: Path, workers: int) -> Server:
    port = free_port()
    return start_server(
        "bare",
        hypercorn_command("bench.bare_asgi:app", port, workers),
        {},
        port,
        out,
        health_path="/",
    )


def spawn_stack_limit(out: Path, url: str, workers: int) -> Server:
    """Started, not yet ready (`wait_ready`): it starts while the service does."""
    # The bare app's command and settings; the service's environment (database, secret).
    port = free_port()
    return spawn_server(
        "stack-limit",
        hypercorn_command("bench.stack_limit:app", port, workers),
        server_env(url, workers),
        port,
        out,
    )


def same_bytes(service: Server, twin: Server, data: BenchData, spec: DataSet, url: str) -> int:
    """Compare the two servers' answers (bench/compare.py); the number of URLs, all equal, or
    SystemExit naming each difference."""
    checks = compare.probes(data, spec, plain_dsn(url))
    differences = compare.compare(service.url, twin.url, checks)
    if differences:
        for difference in differences:
            log(f"DIFFERENT {difference}")
        raise SystemExit(
            f"the stack limit's answers differ from the service's on {len(differences)} of "
            f"{len(checks)} URLs: its ratio would compare unlike work"
        )
    log(f"stack limit: {len(checks)} answers equal the service's, byte for byte")
    return len(checks)


def sql_not_held(seen: dict[str, list[str]]) -> list[str]:
    """Statements the service ran for a read the stack limit answers that the stack limit does
    not hold (its SQL is stale): each as `scenario: SQL`."""
    held = all_sql(service_statements())
    return [f"{s}: {sql}" for s in STACK_LIMIT for sql in seen.get(s, []) if sql not in held]


def start_service(
    out: Path, url: str, workers: int, name: str = "service", cwd: Path = ROOT
) -> Server:
    port = free_port()
    return start_server(name, service_command(port), server_env(url, workers), port, out, cwd=cwd)


# --- load -----------------------------------------------------------------------------------


def measure(
    server: Server,
    scenario: str,
    connections: int,
    seconds: float,
    warmup: float,
    data_file: Path,
    threads: int,
) -> LoadResult:
    if warmup > 0:
        run_wrk(
            server.url,
            scenario,
            connections=connections,
            seconds=warmup,
            data_file=data_file,
            threads=threads,
        )
    result = run_wrk(
        server.url,
        scenario,
        connections=connections,
        seconds=seconds,
        data_file=data_file,
        threads=threads,
    )
    log(
        f"{scenario:>20} c={connections:<4} {result.rps:>9,.0f} req/s  p99 {result.p99_ms:7.1f} ms"
        f"  errors {result.errors}  non-2xx {result.non_2xx}"
    )
    return result


def login_storm(server: Server, data_file: Path, seconds: float) -> dict[str, float]:
    """GET /api/tags p99 idle, then while 32 connections log in without pause."""
    # Let the previous scenario's queued requests drain, then warm up, before "idle".
    time.sleep(3)
    run_wrk(server.url, "tags", connections=4, seconds=2, data_file=data_file, threads=1)
    idle = run_wrk(
        server.url, "tags", connections=4, seconds=seconds, data_file=data_file, threads=1
    )
    storm: dict[str, LoadResult] = {}

    def logins() -> None:
        storm["login"] = run_wrk(
            server.url, "login", connections=32, seconds=seconds + 2, data_file=data_file, threads=1
        )

    thread = threading.Thread(target=logins)
    thread.start()
    time.sleep(1)  # let the hashing threads fill up first
    busy = run_wrk(
        server.url, "tags", connections=4, seconds=seconds, data_file=data_file, threads=1
    )
    thread.join()
    figures = {
        "tags_idle_p99_ms": idle.p99_ms,
        "tags_storm_p99_ms": busy.p99_ms,
        "ratio": round(busy.p99_ms / idle.p99_ms, 2) if idle.p99_ms else 0.0,
        "logins_per_s": round(
            (storm["login"].requests - storm["login"].shed_503) / (storm["login"].seconds or 1), 1
        ),
        "login_errors": storm["login"].unexpected,
        "logins_shed": storm["login"].shed_503,
    }
    log(
        f"login storm: tags p99 idle {idle.p99_ms:.1f} ms, storm {busy.p99_ms:.1f} ms "
        f"(x{figures['ratio']}), {storm['login'].rps:.1f} logins/s"
    )
    return figures


def scale_check(
    out: Path, large: Server, large_file: Path, small: tuple[str, Path], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """p50 at 64 connections on the small set and on the large set, each pair measured back to
    back (a second server on the small set beside the first), so the machine's drift over the
    run does not pass for an effect of table size."""
    small_url, small_file = small
    figures: dict[str, dict[str, float]] = {}
    server = start_service(out, small_url, args.workers, "service-small")
    try:
        for scenario in SCALE:
            on_small = measure(
                server, scenario, 64, args.seconds, args.warmup, small_file, args.threads
            )
            on_large = measure(
                large, scenario, 64, args.seconds, args.warmup, large_file, args.threads
            )
            figures[scenario] = {
                "small_p50_ms": on_small.p50_ms,
                "large_p50_ms": on_large.p50_ms,
                "p50_large_over_small": round(on_large.p50_ms / on_small.p50_ms, 2),
            }
    finally:
        server.stop()
    return figures


def settled_rss(server: Server, seconds: float = 30) -> dict[int, float]:
    """Worker RSS once it stops changing (the last queued requests done), at most `seconds`."""
    previous = server.worker_rss()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        current = server.worker_rss()
        if all(abs(current.get(pid, 0) - mb) < 0.5 for pid, mb in previous.items()):
            return current
        previous = current
    return previous


# --- commands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from bench import report

    require_wrk()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    connections = [int(c) for c in args.connections.split(",")]
    scenarios = args.scenarios.split(",") if args.scenarios else READS + WRITES + ["mixed"]
    started = datetime.now(UTC)
    results: list[LoadResult] = []
    meta: dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "date": f"{started:%Y-%m-%d %H:%M} UTC",
        "workers": args.workers,
        "seconds_per_scenario": args.seconds,
        "cpus": os.cpu_count(),
    }

    small: tuple[str, Path] | None = None
    if args.scale and args.dataset != "small":
        small_url, small_data = prepare(DATASETS["small"], args.database)
        small_file = out / "data-small.lua"
        small_data.write_lua(small_file)
        small = (small_url, small_file)

    url, data = prepare(DATASETS[args.dataset], args.database)
    data_file = out / f"data-{args.dataset}.lua"
    data.write_lua(data_file)

    log("ceiling: bare ASGI app on hypercorn, same settings")
    ceiling: dict[int, float] = {}
    bare = start_bare(out, args.workers)
    try:
        for c in connections:
            r = measure(bare, "bare", c, args.seconds, args.warmup, data_file, args.threads)
            r.server = "bare"
            ceiling[c] = r.rps
            results.append(r)
    finally:
        bare.stop()

    limit: dict[tuple[str, int], float] = {}
    twin = spawn_stack_limit(out, url, args.workers)
    try:
        server = start_service(out, url, args.workers)
    except BaseException:  # the twin is ours to stop, whatever stopped the service's start
        twin.stop()
        raise
    try:
        meta["rss_mb_before"] = server.worker_rss()
        log("ceiling: the stack limit (the service's statements on raw asyncpg), same settings")
        try:
            wait_ready(twin)
            meta["stack_limit_compared"] = same_bytes(
                server, twin, data, DATASETS[args.dataset], url
            )
            for scenario in ["quart_no_io", *scenarios]:
                for c in connections:
                    # The twin just before the service, as the scale check pairs its runs: the
                    # host's drift over the run does not pass into the ratio.
                    if scenario in STACK_LIMIT:
                        r = measure(
                            twin, scenario, c, args.seconds, args.warmup, data_file, args.threads
                        )
                        r.server = "stack_limit"
                        limit[(scenario, c)] = r.rps
                        results.append(r)
                    results.append(
                        measure(
                            server, scenario, c, args.seconds, args.warmup, data_file, args.threads
                        )
                    )
        finally:
            twin.stop()
        if args.storm:
            meta["login_storm"] = login_storm(server, data_file, args.seconds)
        # Right after the load, hashes still in progress each hold ARGON2_MEMORY_KIB; then
        # again once the server is idle, which is what the worker keeps.
        meta["rss_mb_after_load"] = server.worker_rss()
        meta["rss_mb_after"] = settled_rss(server)
        if small is not None:
            meta["scale"] = scale_check(out, server, data_file, small, args)
    finally:
        server.stop()

    for r in results:
        r.ratio_to_ceiling = (
            round(r.rps / ceiling[r.connections], 4) if ceiling.get(r.connections) else None
        )
        twin_rps = limit.get((r.scenario, r.connections))
        if r.server == "service" and twin_rps:
            r.ratio_to_stack_limit = round(r.rps / twin_rps, 4)
    seen = statements_seen(url, SECRET_KEY, data)
    statements = {scenario: len(texts) for scenario, texts in seen.items()}
    stale = sql_not_held(seen)
    for text in stale:
        log(f"NOT IN THE STACK LIMIT {text}")
    for r in results:
        if r.server == "service":
            r.statements_per_request = statements.get(r.scenario)
    meta["statements_per_request"] = statements
    meta["dataset"] = args.dataset
    meta["targets"] = [
        t.as_dict()
        for t in bench_targets.evaluate([r.as_dict() for r in results], meta, reads=READS)
    ]

    table = report.markdown_table(results)
    (out / "results.md").write_text(report.summary_markdown(meta, table))
    report.write_json(out / "results.json", meta, results)
    report.chart(
        out / "chart.png",
        results,
        f"{args.dataset} data set, {args.workers} workers, {meta['date']}",
    )
    print(report.summary_markdown(meta, table))
    failures = [r for r in results if r.unexpected]
    # No answer inside the window measures nothing (a host too busy, a server stuck).
    silent = [f"{report.label(r)} c={r.connections}" for r in results if not r.requests]
    if silent:
        log(f"no request completed in: {', '.join(silent)}")
    return 1 if failures or stale or silent else 0


def soak_intervals(minutes: float, interval: float) -> list[float]:
    """The soak's wrk runs: whole intervals only. Filling the last seconds with a shorter run
    (wrk's least is 1 s, with all connections opened anew) gave a sample at a fraction of the
    rate, which then counted in the last minutes' median (254 req/s among 600-700)."""
    return [interval] * max(1, round(minutes * 60 / interval))


def cmd_soak(args: argparse.Namespace) -> int:
    from bench import report

    require_wrk()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    url, data = prepare(DATASETS[args.dataset], args.database)
    data_file = out / f"data-{args.dataset}.lua"
    data.write_lua(data_file)
    samples: list[dict[str, Any]] = []
    server = start_service(out, url, args.workers)
    # The CI server runs with autovacuum off: the bench does its work (bench/autovacuum.py).
    vacuum = Autovacuum(plain_dsn(url))
    vacuum.__enter__()
    try:
        started = time.monotonic()
        for seconds in soak_intervals(args.minutes, args.interval):
            r = run_wrk(
                server.url,
                "mixed",
                connections=args.connections,
                seconds=seconds,
                data_file=data_file,
                threads=args.threads,
            )
            sample = {
                "minute": round((time.monotonic() - started) / 60, 2),
                "rps": r.rps,
                "p99_ms": r.p99_ms,
                "errors": r.errors,
                "non_2xx": r.non_2xx,
                "rss_mb": {str(k): v for k, v in server.worker_rss().items()},
            }
            samples.append(sample)
            log(
                f"soak {sample['minute']:5.1f} min  {r.rps:,.0f} req/s  p99 {r.p99_ms:.1f} ms  "
                f"rss {sample['rss_mb']}"
            )
    finally:
        vacuum.__exit__(None, None, None)
        server.stop()
    log(f"bench autovacuum: {vacuum.log}")
    summary = report.soak_summary(samples)
    summary["targets"] = [t.as_dict() for t in bench_targets.evaluate_soak(samples)]
    report.soak_chart(
        out / "soak.png",
        samples,
        f"soak: mixed, {args.connections} connections, {args.minutes} min",
    )
    report.write_soak(out / "soak.json", summary, samples)
    print(report.soak_markdown(summary))
    print(report.targets_table(summary["targets"]))
    return 1 if any(s["errors"] or s["non_2xx"] for s in samples) else 0


async def _seeded(url: str) -> bool:
    try:
        conn = await asyncpg.connect(plain_dsn(url))
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT count(*) > 0 FROM articles"))
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()


def cmd_ab(args: argparse.Namespace) -> int:
    """Old and new servers on one database, each scenario measured on both in every round, the
    order swapped from round to round, so the host's drift falls on both alike."""
    from bench import report

    require_wrk()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    scenarios = args.scenarios.split(",")
    connections = [int(c) for c in args.connections.split(",")]
    spec = DATASETS[args.dataset]
    url = database_url(args.database, spec.name)
    if args.reuse_db and asyncio.run(_seeded(url)):
        log(f"reusing {make_url(url).database}")
        # What earlier runs left dead, as autovacuum would have (bench/autovacuum.py).
        log(f"bench autovacuum: {run_once(plain_dsn(url))}")
        data = bench_data(spec, SECRET_KEY)
    else:
        url, data = prepare(spec, args.database)
    data_file = out / f"data-{spec.name}.lua"
    data.write_lua(data_file)
    old_tree = checkout_old(args.old, out)
    rounds: dict[str, dict[str, list[LoadResult]]] = {}
    servers: list[Server] = []
    try:
        old_url = args.old_database or url
        old = start_service(out, old_url, args.workers, "old", cwd=old_tree)
        servers.append(old)
        new = start_service(out, url, args.workers, "new")
        servers.append(new)
        for n in range(args.rounds):
            order = [("old", old), ("new", new)] if n % 2 == 0 else [("new", new), ("old", old)]
            for scenario in scenarios:
                for c in connections:
                    key = f"{scenario} c={c}"
                    for label, server in order:
                        r = measure(server, scenario, c, args.seconds, args.warmup, data_file, 2)
                        rounds.setdefault(key, {}).setdefault(label, []).append(r)
    finally:
        for server in servers:
            server.stop()
        remove_old(old_tree)
    summary = report.ab_summary(rounds)
    meta = {
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "old": args.old
        + (f" on {make_url(args.old_database).database}" if args.old_database else ""),
        "new": "working tree",
    }
    text = report.ab_markdown(meta, summary)
    (out / "ab.md").write_text(text)
    print(text)
    unexpected = [r for by in rounds.values() for rs in by.values() for r in rs if r.unexpected]
    return 1 if unexpected else 0


def cmd_smoke(args: argparse.Namespace) -> int:
    """Every scenario for a moment on the small set: proves the bench runs, not how fast."""
    require_wrk()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    url, data = prepare(DATASETS["small"], args.database)
    data_file = out / "data-small.lua"
    data.write_lua(data_file)
    failures: list[str] = []
    bare = start_bare(out, args.workers)
    try:
        r = measure(bare, "bare", 16, args.seconds, 0, data_file, 1)
        failures += [] if r.requests and not r.unexpected else ["bare"]
    finally:
        bare.stop()
    twin = spawn_stack_limit(out, url, args.workers)
    try:
        server = start_service(out, url, args.workers)
    except BaseException:  # the twin is ours to stop, whatever stopped the service's start
        twin.stop()
        raise
    try:
        # The stack limit once: its answers equal the service's, and its reads run clean.
        try:
            wait_ready(twin)
            same_bytes(server, twin, data, DATASETS["small"], url)
            r = measure(twin, "stack_limit_reads", 16, args.seconds, 0, data_file, 1)
            failures += [] if r.requests and not r.unexpected else ["stack_limit_reads"]
        finally:
            twin.stop()
        for scenario in ["quart_no_io", *READS, *WRITES, "mixed"]:
            r = measure(server, scenario, 16, args.seconds, 0, data_file, 1)
            if not r.requests or r.unexpected:
                failures.append(scenario)
    finally:
        server.stop()
    seen = statements_seen(url, SECRET_KEY, data)
    statements = {scenario: len(texts) for scenario, texts in seen.items()}
    log(f"statements per request: {statements}")
    stale = sql_not_held(seen)
    for text in stale:
        log(f"NOT IN THE STACK LIMIT {text}")
    too_many = [
        s
        for s in ("list_articles", "list_articles_token", "list_deep", "list_by_tag", "feed")
        if statements[s] > 3
    ]
    if failures or too_many or stale:
        log(
            f"FAILED: errors in {failures}; lists over 3 statements: {too_many}; "
            f"statements the stack limit does not run: {len(stale)}"
        )
        return 1
    log("smoke passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="PostgreSQL server to create the bench databases on (any database name)",
    )
    common.add_argument("--workers", type=int, default=2)
    common.add_argument("--threads", type=int, default=2, help="wrk threads")
    common.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="the full bench")
    run.add_argument("--dataset", choices=sorted(DATASETS), default="large")
    run.add_argument("--seconds", type=float, default=10)
    run.add_argument("--warmup", type=float, default=3)
    run.add_argument("--connections", default="64,256")
    run.add_argument("--scenarios", default="", help="comma-separated; default: all")
    run.add_argument(
        "--no-scale",
        dest="scale",
        action="store_false",
        help="skip the small-set run for the scale check",
    )
    run.add_argument("--no-storm", dest="storm", action="store_false", help="skip the login storm")

    soak = sub.add_parser("soak", parents=[common], help="the mixed profile for a long time")
    soak.add_argument("--dataset", choices=sorted(DATASETS), default="large")
    soak.add_argument("--minutes", type=float, default=10)
    soak.add_argument("--interval", type=float, default=30)
    soak.add_argument("--connections", type=int, default=128)

    smoke = sub.add_parser(
        "smoke", parents=[common], help="every scenario briefly on the small set (CI)"
    )
    smoke.add_argument("--seconds", type=float, default=1)

    ab = sub.add_parser("ab", parents=[common], help="an older commit against the working tree")
    ab.add_argument("--old", default="HEAD", help="git revision of the old server (default HEAD)")
    ab.add_argument("--dataset", choices=sorted(DATASETS), default="large")
    ab.add_argument("--scenarios", default="list_articles")
    ab.add_argument("--connections", default="64")
    ab.add_argument("--rounds", type=int, default=3)
    ab.add_argument("--seconds", type=float, default=8)
    ab.add_argument("--warmup", type=float, default=2)
    ab.add_argument(
        "--reuse-db", action="store_true", help="keep the seeded database if it is there"
    )
    ab.add_argument(
        "--old-database",
        default="",
        help="the old server's database when the change migrates the schema: a copy of the "
        "seeded one made before migrating it (CREATE DATABASE ... TEMPLATE ...)",
    )

    args = parser.parse_args(argv)
    handlers = {"run": cmd_run, "soak": cmd_soak, "smoke": cmd_smoke, "ab": cmd_ab}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

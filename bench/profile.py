"""Where a request's CPU goes, by layer: `python -m bench.profile record | cpu`.

record  one worker of the service under wrk load on one scenario, sampled by py-spy (raw
        stacks, non-blocking); every sample goes to the layer of its innermost frame that
        belongs to one (stdlib helpers such as `re` or `contextlib` count for their caller),
        and the worker's CPU time per request turns shares into microseconds. Writes the raw
        stacks, `layers.md` and `layers.json` to --out; `table` redoes the table from raw.
cpu     the service at an older commit and the working tree, one worker each, in alternating
        rounds: the worker's CPU time (user + system, from /proc) per request answered. Less
        at the mercy of a shared host than req/s: other processes slow a request down but do
        not add to its CPU time.

py-spy is a profiling tool, not a dependency: `pip install py-spy` anywhere and pass its path
with --py-spy (or have it on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.__main__ import (
    SECRET_KEY,
    _seeded,
    database_url,
    log,
    prepare,
    server_env,
    service_command,
)
from bench.data import DATASETS, bench_data
from bench.harness import (
    DEFAULT_DATABASE,
    ROOT,
    LoadResult,
    Server,
    checkout_old,
    free_port,
    remove_old,
    run_wrk,
    start_server,
)

# First match wins, on the start of the frame's file path as py-spy writes it (relative to its
# sys.path entry, so "sqlalchemy/ext/asyncio/..." is SQLAlchemy's and "asyncio/..." the stdlib's).
# Order matters: our modules before the packages.
LAYERS: list[tuple[str, str]] = [
    ("service/observability.py", "access log + request id (ours)"),
    ("service/metrics.py", "metrics (ours + prometheus_client)"),
    ("prometheus_client/", "metrics (ours + prometheus_client)"),
    ("service/deadline.py", "deadline + admission (ours)"),
    ("service/admission.py", "deadline + admission (ours)"),
    ("service/serve_worker.py", "drain middleware (ours)"),
    ("service/db.py", "session open/finish (ours)"),
    ("service/routes/conditional.py", "ETag / conditional (ours)"),
    ("service/security/", "auth: token + user lookup (ours)"),
    ("service/crypto.py", "auth: token + user lookup (ours)"),
    ("jwt/", "auth: token + user lookup (ours)"),
    ("service/routes/validation.py", "query validation (ours + quart-schema + pydantic)"),
    ("quart_schema/", "query validation (ours + quart-schema + pydantic)"),
    ("pydantic/", "query validation (ours + quart-schema + pydantic)"),
    ("pydantic_core/", "query validation (ours + quart-schema + pydantic)"),
    ("service/jsonio.py", "serialisation (views, orjson)"),
    ("service/routes/responses.py", "serialisation (views, orjson)"),
    ("service/schemas/", "serialisation (views, orjson)"),
    ("orjson/", "serialisation (views, orjson)"),
    ("service/routes/errors.py", "error handlers (ours)"),
    ("service/services/", "services + DAOs (ours)"),
    ("service/daos/", "services + DAOs (ours)"),
    ("service/models/", "services + DAOs (ours)"),
    ("service/routes/", "route handlers (ours)"),
    ("service/", "app factory, misc (ours)"),
    ("sqlalchemy/", "SQLAlchemy (ORM, Core, pool)"),
    ("greenlet/", "SQLAlchemy (ORM, Core, pool)"),
    ("asyncpg/", "asyncpg"),
    ("quart_cors/", "Quart + Werkzeug"),
    ("quart/", "Quart + Werkzeug"),
    ("werkzeug/", "Quart + Werkzeug"),
    ("blinker/", "Quart + Werkzeug"),
    ("hypercorn/", "hypercorn + h11"),
    ("h11/", "hypercorn + h11"),
    ("logging/", "logging (stdlib)"),
    ("asyncio/runners.py", "event loop: uvloop + C protocol callbacks"),
    ("asyncio/", "asyncio (tasks, streams, locks)"),
    ("uvloop/", "event loop: uvloop + C protocol callbacks"),
]
# Stdlib helpers that work for whoever calls them: a sample there counts for the caller.
TRANSPARENT = re.compile(
    r"^(re|sre_\w+|_?contextvars|contextlib|functools|typing|enum|abc|collections|"
    r"dataclasses|inspect|weakref|copy|copyreg|uuid|base64|hashlib|datetime|urllib|"
    r"string|ipaddress|email|http|json|traceback|linecache|warnings|types|operator|"
    r"threading|queue|socket|selectors|ssl|time|random|secrets|hmac|codecs|encodings)"
    r"(/|\.py)|<frozen "
)
OTHER = "other (stdlib, interpreter)"
# Samples of a thread with no Python frame at all (the interpreter's own work, a C thread).
NO_FRAME = "no Python frame"
# "function (path/file.py:123)" in py-spy's raw output.
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def layer_of(path: str) -> str | None:
    for prefix, layer in LAYERS:
        if path.startswith(prefix):
            return layer
    return None


def attribute(stack: list[str]) -> tuple[str, str]:
    """The layer a sample counts for, and the frame that decided it (innermost first)."""
    for frame in reversed(stack):
        match = FRAME.match(frame)
        path = match.group("path") if match else frame
        if TRANSPARENT.search(path):
            continue
        layer = layer_of(path)
        if layer is not None:
            return layer, frame
    return (OTHER, stack[-1]) if stack and stack[0] else (NO_FRAME, "-")


@dataclass
class Profile:
    samples: int
    by_layer: Counter[str]
    by_frame: Counter[str]


def read_raw(path: Path) -> Profile:
    by_layer: Counter[str] = Counter()
    by_frame: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        layer, frame = attribute(stack_text.split(";"))
        by_layer[layer] += count
        by_frame[f"{layer} | {frame}"] += count
    return Profile(sum(by_layer.values()), by_layer, by_frame)


def table(profile: Profile, cpu_us: float | None, top: int = 15) -> str:
    per = " | µs/request" if cpu_us else ""
    lines = [
        f"| layer | share of CPU samples{per} |",
        "| --- | ---: |" + (" ---: |" if cpu_us else ""),
    ]
    for layer, count in profile.by_layer.most_common():
        share = count / profile.samples
        us = f" | {share * cpu_us:,.0f}" if cpu_us else ""
        lines.append(f"| {layer} | {share:.1%}{us} |")
    if cpu_us:
        lines.append(f"| **all** ({profile.samples:,} samples) | 100% | **{cpu_us:,.0f}** |")
    lines += ["", "Hottest frames (the frame that decided the layer):", ""]
    lines += ["| share | layer \\| frame |", "| ---: | --- |"]
    for key, count in profile.by_frame.most_common(top):
        escaped = key.replace("|", "\\|")
        lines.append(f"| {count / profile.samples:.1%} | {escaped} |")
    return "\n".join(lines) + "\n"


# A shared host can take a minute to start a worker (imports, spawn): more than the bench's 60 s.
START_TIMEOUT_SECONDS = 300


def start_service(
    out: Path, url: str, workers: int, name: str = "service", cwd: Path = ROOT
) -> Server:
    port = free_port()
    return start_server(
        name,
        service_command(port),
        server_env(url, workers),
        port,
        out,
        timeout=START_TIMEOUT_SECONDS,
        cwd=cwd,
    )


# --- load and CPU time --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def loaded_cpu(
    server: Server, scenario: str, args: argparse.Namespace, data_file: Path
) -> tuple[LoadResult, float]:
    """One measured wrk run; the worker's CPU microseconds per request answered."""
    (worker,) = server.workers()
    before = cpu_seconds(worker)
    result = run_wrk(
        server.url,
        scenario,
        connections=args.connections,
        seconds=args.seconds,
        data_file=data_file,
    )
    used = cpu_seconds(worker) - before
    return result, used / max(1, result.requests) * 1e6


def warm(server: Server, scenario: str, args: argparse.Namespace, data_file: Path) -> None:
    if args.warmup > 0:
        run_wrk(
            server.url,
            scenario,
            connections=args.connections,
            seconds=args.warmup,
            data_file=data_file,
        )


def dataset_url(args: argparse.Namespace, out: Path) -> tuple[str, Path]:
    spec = DATASETS[args.dataset]
    url = database_url(args.database, spec.name)
    if asyncio.run(_seeded(url)):
        log(f"reusing {make_url(url).database}")
        data = bench_data(spec, SECRET_KEY)
    else:
        url, data = prepare(spec, args.database)
    data_file = out / f"data-{spec.name}.lua"
    data.write_lua(data_file)
    return url, data_file


def py_spy(given: str | None) -> str:
    found = given or shutil.which("py-spy")
    if not found:
        sys.exit("py-spy not found: pip install py-spy (anywhere) and pass --py-spy PATH")
    return found


def cmd_record(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    spy = py_spy(args.py_spy)
    url, data_file = dataset_url(args, out)
    server = start_service(out, url, 1)
    try:
        (worker,) = server.workers()
        warm(server, args.scenario, args, data_file)
        raw = out / "raw.txt"
        spy_run = subprocess.Popen(
            [spy, "record", "--pid", str(worker), "--duration", str(round(args.seconds)),
             "--rate", str(args.rate), "--format", "raw", "--nonblocking",
             "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        result, cpu_us = loaded_cpu(server, args.scenario, args, data_file)
        _, spy_err = spy_run.communicate(timeout=args.seconds + 60)
        if spy_run.returncode != 0:
            sys.exit(f"py-spy failed: {spy_err.decode(errors='replace')}")
    finally:
        server.stop()
    profile = read_raw(raw)
    summary = {
        "scenario": args.scenario,
        "connections": args.connections,
        "rps": result.rps,
        "requests": result.requests,
        "non_2xx": result.non_2xx,
        "errors": result.errors,
        "cpu_us_per_request": round(cpu_us, 1),
        "samples": profile.samples,
        "layers": dict(profile.by_layer.most_common()),
    }
    (out / "layers.json").write_text(json.dumps(summary, indent=2) + "\n")
    head = (
        f"{args.scenario}, {args.connections} connections, 1 worker, {args.seconds:.0f} s: "
        f"{result.rps:,.0f} req/s (noisy), {cpu_us:,.0f} µs of worker CPU per request, "
        f"{result.errors + result.non_2xx} errors/non-2xx\n\n"
    )
    text = head + table(profile, cpu_us)
    (out / "layers.md").write_text(text)
    print(text)
    return 1 if result.unexpected else 0


def cmd_table(args: argparse.Namespace) -> int:
    print(table(read_raw(args.raw), args.cpu_us))
    return 0


def cmd_cpu(args: argparse.Namespace) -> int:
    """Old and new servers (one worker each), each scenario on both in every round, the order
    swapped each round: median worker CPU µs per request, new over old."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    url, data_file = dataset_url(args, out)
    old_tree = checkout_old(args.old, out)
    scenarios = args.scenarios.split(",")
    figures: dict[str, dict[str, list[float]]] = {s: {"old": [], "new": []} for s in scenarios}
    rates: dict[str, dict[str, list[float]]] = {s: {"old": [], "new": []} for s in scenarios}
    servers: list[Server] = []
    try:
        old = start_service(out, url, 1, "old", cwd=old_tree)
        servers.append(old)
        new = start_service(out, url, 1, "new")
        servers.append(new)
        for n in range(args.rounds):
            order = [("old", old), ("new", new)] if n % 2 == 0 else [("new", new), ("old", old)]
            for scenario in scenarios:
                for label, server in order:
                    warm(server, scenario, args, data_file)
                    result, cpu_us = loaded_cpu(server, scenario, args, data_file)
                    if result.unexpected:  # an overloaded host times requests out: said, kept
                        log(f"{label} {scenario}: {result.unexpected} errors/non-2xx")
                    figures[scenario][label].append(cpu_us)
                    rates[scenario][label].append(result.rps)
                    log(
                        f"{scenario:>16} {label}: {cpu_us:7.0f} µs CPU/request "
                        f"({result.rps:,.0f} req/s)"
                    )
    finally:
        for server in servers:
            server.stop()
        remove_old(old_tree)
    lines = [
        f"CPU per request `python -m bench.profile {' '.join(sys.argv[1:])}`: old = `{args.old}`, "
        "new = working tree; one worker each; worker CPU µs per request and req/s.",
        "",
        "| scenario | CPU µs old (rounds) | CPU µs new (rounds) | new/old CPU (medians) "
        "| req/s old → new (medians) | new/old req/s |",
        "| --- | --- | --- | ---: | --- | ---: |",
    ]
    for scenario, sides in figures.items():
        old_median, new_median = statistics.median(sides["old"]), statistics.median(sides["new"])
        old_rps, new_rps = (statistics.median(rates[scenario][side]) for side in ("old", "new"))
        lines.append(
            f"| {scenario} | {', '.join(f'{v:.0f}' for v in sides['old'])} "
            f"| {', '.join(f'{v:.0f}' for v in sides['new'])} | {new_median / old_median:.3f}× "
            f"| {old_rps:,.0f} → {new_rps:,.0f} | {new_rps / old_rps:.3f}× |"
        )
    text = "\n".join(lines) + "\n"
    (out / "cpu.md").write_text(text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
    )
    common.add_argument("--dataset", choices=sorted(DATASETS), default="large")
    common.add_argument("--connections", type=int, default=64)
    common.add_argument("--seconds", type=float, default=20)
    common.add_argument("--warmup", type=float, default=3)
    common.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "profile")
    sub = parser.add_subparsers(dest="command", required=True)
    record = sub.add_parser("record", parents=[common], help="py-spy a worker under load")
    record.add_argument("--scenario", default="list_articles")
    record.add_argument("--rate", type=int, default=200, help="samples per second")
    record.add_argument("--py-spy", help="path of the py-spy binary (default: on PATH)")
    cpu = sub.add_parser("cpu", parents=[common], help="CPU per request, old against new")
    cpu.add_argument("--old", default="HEAD")
    cpu.add_argument("--scenarios", default="list_articles,current_user")
    cpu.add_argument("--rounds", type=int, default=4)
    redo = sub.add_parser("table", help="the layer table again from a raw file")
    redo.add_argument("raw", type=Path)
    redo.add_argument("--cpu-us", type=float, default=None)
    args = parser.parse_args(argv)
    handlers = {"record": cmd_record, "cpu": cmd_cpu, "table": cmd_table}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

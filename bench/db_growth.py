"""What grows in the bench database, in measures the host's load cannot move.

`python -m bench.db_growth [--dataset large] [--out FILE]` prints, as JSON, for every table:
rows, dead tuples, HOT updates, table and index sizes, autovacuum/analyze counts and times
(pg_stat_user_tables); and for each read of the mixed profile, the shared buffers its
statements touch (EXPLAIN (ANALYZE, BUFFERS)). Run it on one database at minute 0 and after a
soak: buffer counts are the same on an idle and on a busy host, unlike timings.

The statements are the app's own, recorded from one request per read through its test client
(the same probes as the statement count), so a change to a query is measured as it ships.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import asyncpg

from bench.__main__ import READS as BENCH_READS
from bench.__main__ import SECRET_KEY
from bench.data import DATASETS, bench_data
from bench.harness import DEFAULT_DATABASE
from bench.statements import Statement, record

# The mixed profile's reads (no deep page in it).
READS = [name for name in BENCH_READS if name != "list_deep"]

_TABLES = """
SELECT relname, n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
       pg_relation_size(relid) AS heap_bytes, pg_indexes_size(relid) AS index_bytes,
       autovacuum_count, autoanalyze_count,
       to_char(last_autovacuum, 'HH24:MI:SS') AS last_autovacuum,
       to_char(last_autoanalyze, 'HH24:MI:SS') AS last_autoanalyze
FROM pg_stat_user_tables ORDER BY relname
"""


def _buffers(plan: dict[str, Any]) -> int:
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


async def measure(
    dsn: str, statements: dict[str, list[Statement]], generic: bool = False
) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        if generic:
            # The plan a prepared statement settles on after five runs (asyncpg prepares
            # every statement): a plan for any parameter, which statistics can tip.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
        tables = {r["relname"]: dict(r) for r in await conn.fetch(_TABLES)}
        reads: dict[str, Any] = {}
        for name, stmts in statements.items():
            buffers = 0
            ms = 0.0
            for sql, params in stmts:
                raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *params)
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
                buffers += _buffers(plan["Plan"])
                ms += float(plan["Execution Time"])
            reads[name] = {"statements": len(stmts), "buffers": buffers, "ms": round(ms, 2)}
        return {"tables": tables, "reads": reads}
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_growth", description=__doc__)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="large")
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--generic", action="store_true", help="explain the generic plans of prepared statements"
    )
    args = parser.parse_args(argv)
    # The bench's own naming (BENCH_DB_PREFIX), without importing its command module.
    from bench.__main__ import database_url, plain_dsn

    url = database_url(args.database, args.dataset)
    data = bench_data(DATASETS[args.dataset], SECRET_KEY)
    statements = asyncio.run(record(url, SECRET_KEY, data, READS))
    result = asyncio.run(measure(plain_dsn(url), statements, args.generic))
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        args.out.write_text(text)
    for name, read in result["reads"].items():
        print(f"{name:>20} {read['statements']} statements {read['buffers']:>8} buffers")
    return 0


if __name__ == "__main__":
    sys.exit(main())

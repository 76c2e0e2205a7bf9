"""Autovacuum for the bench database, where the server has it switched off.

The CI and developer PostgreSQL runs with `autovacuum = off` (its conf.d/90-ci.conf), and a
server setting is not the bench's to change (per-table storage parameters cannot switch it
back on: with the daemon off only anti-wraparound vacuums run). Nothing then ever vacuums: the
rows every create updates (each tag's `articles_count`, the `counters` total) leave a dead
version per update that page pruning does not always reclaim, the tables and their primary
keys grow, and every article list's tag-name lookup reads more pages as a soak goes on
(docs/bench/soak.md: 10,000 creates took the list's buffers from 136 to 954).

`Autovacuum` does what the daemon would with PostgreSQL's default settings: every naptime
(60 s) it vacuums each table whose dead tuples pass 50 + 20 % of its rows, and analyzes each
whose changes since the last analyze pass 50 + 10 %, so a long run measures the service on
a database kept the way production keeps it.
"""

from __future__ import annotations

import threading
from types import TracebackType

import psycopg
from psycopg import sql

NAPTIME_SECONDS = 60.0
# PostgreSQL's defaults: autovacuum_vacuum_threshold, _scale_factor, and the analyze pair.
VACUUM_THRESHOLD, VACUUM_SCALE = 50, 0.2
ANALYZE_THRESHOLD, ANALYZE_SCALE = 50, 0.1

_DUE = """
SELECT s.relname,
       n_dead_tup > %(vt)s + %(vs)s * GREATEST(c.reltuples, 0) AS vacuum,
       n_mod_since_analyze > %(at)s + %(as)s * GREATEST(c.reltuples, 0) AS analyze
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = 'public'
"""


def due(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[str, bool, bool]]:
    """Tables past the default thresholds: (name, vacuum?, analyze?)."""
    params = {"vt": VACUUM_THRESHOLD, "vs": VACUUM_SCALE, "at": ANALYZE_THRESHOLD}
    params["as"] = ANALYZE_SCALE
    rows = conn.execute(_DUE, params).fetchall()
    return [(str(name), bool(v), bool(a)) for name, v, a in rows if v or a]


def run_once(dsn: str) -> list[str]:
    """One naptime's work; what it did, e.g. ['VACUUM (ANALYZE) tags']."""
    done = []
    with psycopg.connect(dsn, autocommit=True) as conn:  # VACUUM runs in no transaction
        for name, vacuum, analyze in due(conn):
            if vacuum:
                options = sql.SQL("VACUUM (ANALYZE) ") if analyze else sql.SQL("VACUUM ")
            else:
                options = sql.SQL("ANALYZE ")
            statement = options + sql.Identifier(name)
            conn.execute(statement)
            done.append(statement.as_string(conn))
    return done


class Autovacuum:
    """A thread running `run_once` every naptime until the block ends."""

    def __init__(self, dsn: str, naptime: float = NAPTIME_SECONDS) -> None:
        self.dsn = dsn
        self.naptime = naptime
        self.log: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-autovacuum", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.naptime):
            try:
                self.log.extend(run_once(self.dsn))
            except psycopg.Error as exc:  # a lock timeout or a dropped database: next round
                self.log.append(f"failed: {exc}")

    def __enter__(self) -> Autovacuum:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

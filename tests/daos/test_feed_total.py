"""The feed's articlesCount sums one kept total per followed author: it reads no article, so
its cost is the authors followed, however much they have written (docs/bench/feed-and-writes.md)."""

from __future__ import annotations

from sqlalchemy.sql.util import find_tables

from service.daos.articles import _page_statements


def test_the_feeds_total_reads_the_authors_kept_totals_not_their_articles() -> None:
    for dialect in ("postgresql", "sqlite"):
        for signed_in in (False, True):
            _, total = _page_statements((frozenset({"feed_of"}), signed_in), dialect)
            tables = {table.name for table in find_tables(total, include_joins=True)}
            assert tables == {"follows", "counters"}, (dialect, tables)

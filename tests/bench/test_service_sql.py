"""The stack limit's SQL is the service's DAOs' statements, compiled for asyncpg."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from bench.service_sql import all_sql, service_statements
from service.daos.articles import _page_statements


def test_a_page_binds_the_filters_in_dollar_order_with_the_statements_own_values() -> None:
    statements = service_statements()
    anonymous = statements.page[(frozenset(), False)]
    assert "$1" in anonymous.sql
    assert "LIMIT $3 OFFSET $4" in anonymous.sql
    # The kept total's counter name and COALESCE default are bound by the statement itself.
    assert anonymous.args({"limit": 20, "offset": 40}) == [0, "articles", 20, 40]
    by_tag = statements.page[(frozenset({"tag_key"}), True)]
    assert by_tag.args({"viewer_id": 7, "tag_key": "tag1", "limit": 5, "offset": 0}) == [
        7,
        0,
        "tag1",
        5,
        0,
    ]


def test_the_text_is_what_the_services_dialect_compiles() -> None:
    page, _ = _page_statements((frozenset({"feed_of"}), True))
    compiled = page.compile(dialect=PGDialect_asyncpg())
    assert str(compiled) in all_sql(service_statements())

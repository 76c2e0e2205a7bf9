"""The stack limit's SQL is the service's: the DAOs' statements, compiled by the driver's
`compiled()` as the service's hot reads send them."""

from __future__ import annotations

from bench.service_sql import SHAPES, all_sql, service_statements
from service.daos.articles import _one_statement, _page_statements
from service.daos.driver import compiled
from service.daos.profiles import _find_statement


def test_a_page_binds_the_filters_in_dollar_order_with_the_statements_own_values() -> None:
    statements = service_statements()
    anonymous = statements.page[(frozenset(), False)]
    assert "$1" in anonymous.sql
    # The keys' subquery and the outer query share the limit's parameter.
    assert "LIMIT $3 OFFSET $4" in anonymous.sql
    assert anonymous.sql.rstrip().endswith("LIMIT $3")
    # The kept total's COALESCE default and counter name are bound by the statement itself.
    assert anonymous.args({"limit": 20, "offset": 40}) == [0, "articles", 20, 40]
    by_tag = statements.page[(frozenset({"tag_key"}), True)]
    assert by_tag.args({"viewer_id": 7, "tag_key": "tag1", "limit": 5, "offset": 0}) == [
        7,
        0,
        "tag1",
        5,
        0,
    ]
    feed = statements.page[(frozenset({"feed_of"}), True)]
    # The total sums each followed author's kept row: its name prefix and shard are the
    # statement's own.
    assert feed.args({"viewer_id": 7, "feed_of": 7, "limit": 5, "offset": 0}) == [
        7,
        0,
        "articles_by:",
        7,
        0,
        5,
        0,
    ]


def test_what_the_twin_must_bind_is_the_shapes_filters_the_caller_and_the_window() -> None:
    """Every name without a value of the statement's own is one the twin passes (a name it
    missed would bind NULL)."""
    statements = service_statements()
    for shape in SHAPES:
        filters, signed_in = shape
        caller = {"viewer_id"} if signed_in else set()
        page, total = statements.page[shape], statements.total[shape]
        assert {n for n in page.names if page.fixed[n] is None} == {
            *filters,
            *caller,
            "limit",
            "offset",
        }
        assert {n for n in total.names if total.fixed[n] is None} == set(filters)
    assert statements.article[False].names == ("slug",)
    assert set(statements.article[True].names) == {"slug", "viewer_id"}
    assert statements.profile[False].names == ("username_key",)
    assert set(statements.profile[True].names) == {"username_key", "viewer_id"}
    assert statements.user.names == ("id",)


def test_a_page_carries_its_tag_names_and_total_in_each_row() -> None:
    for shape in SHAPES:
        sql = service_statements().page[shape].sql
        assert "AS tag_names" in sql
        assert "AS total" in sql
    assert "AS tag_names" in service_statements().article[False].sql


def test_the_text_is_what_the_service_sends_on_its_asyncpg_connection() -> None:
    """The same builders' statements through the same `compiled()`: the very objects the
    service's driver reads use, so the same text and bind order."""
    statements = service_statements()
    held = all_sql(statements)
    for shape in SHAPES:
        page, total = _page_statements(shape, "postgresql")
        assert statements.page[shape] is compiled(page)
        assert statements.total[shape] is compiled(total)
    for signed_in in (False, True):
        assert statements.article[signed_in] is compiled(
            _one_statement(True, signed_in, "postgresql")
        )
        assert statements.profile[signed_in] is compiled(_find_statement(signed_in))
    feed, _ = _page_statements((frozenset({"feed_of"}), True), "postgresql")
    assert compiled(feed).sql in held
    # The separate tags-by-article statement (bound a page's `article_ids`) is gone.
    every = [
        *statements.page.values(),
        *statements.total.values(),
        *statements.article.values(),
        *statements.profile.values(),
        statements.user,
    ]
    assert not any("article_ids" in statement.names for statement in every)
    assert {statement.sql for statement in every} == held

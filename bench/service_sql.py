"""The service's own read statements, as the stack-limit app runs them on raw asyncpg.

The stack limit (bench/stack_limit.py) must run exactly the SQL the service runs on
PostgreSQL, so it holds no SQL of its own. The service's hot reads (a page of articles, one
article, a profile) run on the session's asyncpg connection (service/daos/driver.py): the
DAO builds its statement once per shape, and `compiled()` turns it once into the text it
sends ($n parameters, the same casts) and the bind names in $n order. `service_statements`
takes the same statements from the same builders and compiles them with that same
`compiled()`, so the twin holds the very text (and bind order) the service sends. The caller's
row is the one read still on SQLAlchemy's path (the ORM's `session.get(User, id)`): its text is
that of the equivalent select, compiled alike.

A change to a DAO's statement is the twin's change at its next start; the byte-for-byte
comparison (bench/compare.py) catches a change of shape (a column the twin does not read), and
`run` and `smoke` check that every statement the service ran for a twinned read is one of
`all_sql` (a read the service moved to a statement of another builder).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

# The statement builders the DAOs call per request (each cached by shape), and the compiler
# their hot reads go through on PostgreSQL.
from service.daos.articles import _one_statement, _page_statements
from service.daos.driver import Compiled, compiled
from service.daos.profiles import _find_statement
from service.models import User

DIALECT = "postgresql"  # the builders' dialect argument: what the bench's service runs on

# A page's shape, as the article DAO keys its statements: the filters set, signed in or not.
# The twin answers the list, by tag and the feed (author and favorited filters are refused).
Shape = tuple[frozenset[str], bool]
SHAPES: tuple[Shape, ...] = (
    (frozenset(), False),
    (frozenset(), True),
    (frozenset({"tag_key"}), False),
    (frozenset({"tag_key"}), True),
    (frozenset({"feed_of"}), True),
)

# session.get(User, id) loads every mapped column by primary key: this statement's text.
_USER = select(User).where(User.id == bindparam("id"))


@dataclass(frozen=True)
class Statements:
    # A page: its rows with the total and each article's tag names (an array) in every row;
    # its keys are found first inside the statement (deep pages), then their rows.
    page: dict[Shape, Compiled]
    total: dict[Shape, Compiled]  # the total alone, for a page past the end
    article: dict[bool, Compiled]  # one article by slug, with body and tag names; by signed in
    profile: dict[bool, Compiled]  # a profile by username key; keyed by signed in
    user: Compiled  # the caller by id (the service's session.get(User, id))


def service_statements() -> Statements:
    """What the service runs on PostgreSQL for the list (and by tag, the feed), one article, a
    profile and the caller: the DAOs' statements through the driver's `compiled()`."""
    pages = {shape: _page_statements(shape, DIALECT) for shape in SHAPES}
    return Statements(
        page={shape: compiled(page) for shape, (page, _) in pages.items()},
        total={shape: compiled(total) for shape, (_, total) in pages.items()},
        article={
            signed_in: compiled(_one_statement(True, signed_in, DIALECT))
            for signed_in in (False, True)
        },
        profile={signed_in: compiled(_find_statement(signed_in)) for signed_in in (False, True)},
        user=compiled(_USER),
    )


def all_sql(statements: Statements) -> set[str]:
    """Every statement's text: what the service may run for the reads the twin answers."""
    held = [
        *statements.page.values(),
        *statements.total.values(),
        *statements.article.values(),
        *statements.profile.values(),
        statements.user,
    ]
    return {statement.sql for statement in held}

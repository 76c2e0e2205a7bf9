"""The service's own read statements, as the stack-limit app runs them on raw asyncpg.

The stack limit (bench/stack_limit.py) must run exactly the SQL the service's DAOs run on
PostgreSQL, so it does not hold SQL of its own: `service_statements` takes the DAOs'
SQLAlchemy statements (the cached ones they execute) and compiles them with the service's
dialect, postgresql+asyncpg, into the text SQLAlchemy hands asyncpg ($n parameters, the same
casts). A change to a DAO's statement is the twin's change at its next start, and the
byte-for-byte comparison (bench/compare.py) catches a change of shape. Should the DAOs move
these reads to raw SQL, this one function is the place to point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

# The statement-building functions the DAOs call per request (each cached by shape).
from service.daos.articles import _one_statement, _page_statements
from service.daos.profiles import _find_statement
from service.daos.tags import _names_by_article
from service.models import User

# A page's shape, as the article DAO keys its statements: the filters set, signed in or not.
Shape = tuple[frozenset[str], bool]
SHAPES: tuple[Shape, ...] = (
    (frozenset(), False),
    (frozenset(), True),
    (frozenset({"tag_key"}), False),
    (frozenset({"tag_key"}), True),
    (frozenset({"feed_of"}), True),
)


@dataclass(frozen=True)
class Statement:
    """SQL text for asyncpg and how to order its arguments."""

    sql: str
    names: tuple[str, ...]  # the bind parameters, in $n order
    # Values the statement binds itself (a counter's name, a COALESCE default).
    fixed: dict[str, Any] = field(default_factory=dict)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [params[n] if n in params else fixed[n] for n in self.names]


# The service's dialect: what its engine (postgresql+asyncpg) compiles statements with.
DIALECT: Dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


def compile_statement(statement: Executable) -> Statement:
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=DIALECT))
    names = tuple(compiled.positiontup or ())
    fixed = {
        name: bind.value
        for name, bind in compiled.binds.items()
        if name in names and not bind.required and bind.value is not None
    }
    return Statement(compiled.string, names, fixed)


@dataclass(frozen=True)
class Statements:
    page: dict[Shape, Statement]  # a page with the total in each row
    total: dict[Shape, Statement]  # the total alone, for a page past the end
    tag_names: Statement  # the tags of a page's articles
    article: dict[bool, Statement]  # one article by slug; keyed by signed in
    profile: dict[bool, Statement]  # a profile by username key; keyed by signed in
    user: Statement  # the caller by id (the service's session.get(User, id))


def service_statements() -> Statements:
    """What the service runs for the list (and tag, feed), one article, a profile and the
    caller, on PostgreSQL."""
    pages = {shape: _page_statements(shape) for shape in SHAPES}
    return Statements(
        page={shape: compile_statement(page) for shape, (page, _) in pages.items()},
        total={shape: compile_statement(total) for shape, (_, total) in pages.items()},
        tag_names=compile_statement(_names_by_article("postgresql")),
        article={
            signed_in: compile_statement(_one_statement(True, signed_in, "postgresql"))
            for signed_in in (False, True)
        },
        profile={
            signed_in: compile_statement(_find_statement(signed_in)) for signed_in in (False, True)
        },
        # session.get loads every mapped column by primary key: this statement's text.
        user=compile_statement(select(User).where(User.id == bindparam("id"))),
    )


def all_sql(statements: Statements) -> set[str]:
    """Every statement's text: what the service may run for the reads the twin answers."""
    held = [
        *statements.page.values(),
        *statements.total.values(),
        statements.tag_names,
        *statements.article.values(),
        *statements.profile.values(),
        statements.user,
    ]
    return {statement.sql for statement in held}

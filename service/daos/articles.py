from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import orjson
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    Table,
    bindparam,
    cast,
    delete,
    exists,
    false,
    func,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.daos.counters import ARTICLES, articles_by, articles_by_column, counter_dao
from service.daos.dialect import insert, insert_for
from service.daos.queries import can_hold, dialect_name, run_all, run_one
from service.daos.slug_history import slug_history_dao
from service.daos.tags import tag_dao
from service.errors import ArticleNotFound
from service.models import (
    Article,
    ArticleTag,
    ArticleView,
    Counter,
    Favorite,
    Follow,
    ProfileView,
    Tag,
    User,
)

# How a writer holds an article's row: to change its columns or tags, or to delete it.
Lock = Literal["edit", "delete"]


def raise_if_article_gone(exc: IntegrityError) -> None:
    """A row that references an article deleted by a concurrent request (its foreign key
    check waited for that delete to commit): the article is not found, as if looked up later.
    The request's transaction is spoiled, but a 404 rolls it back anyway."""
    if "article_id" in str(exc.orig):
        raise ArticleNotFound() from exc


class SlugTaken(Exception):
    """The slug is in use; the service picks another."""


@dataclass(frozen=True)
class ArticleFilter:
    """GET /api/articles and the feed: every filter that is set applies (AND)."""

    tag_key: str | None = None  # case-folded tag name
    author_key: str | None = None  # case-folded username
    favorited_by_key: str | None = None
    feed_of: int | None = None  # a user id: articles by the authors this user follows

    def params(self) -> dict[str, Any]:
        """The set filters, by the names the statements bind them as."""
        return {name: value for name, value in vars(self).items() if value is not None}


# Statements come in shapes: which filters are set, and whether the caller is signed in.
Shape = tuple[frozenset[str], bool]


def _flags(signed_in: bool) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`following` (the author) and `favorited` for the caller; false for anonymous callers."""
    if not signed_in:
        return false().label("following"), false().label("favorited")
    viewer: BindParameter[int] = bindparam("viewer_id", type_=Integer)
    following = exists().where(
        Follow.follower_id == viewer, Follow.followed_id == Article.author_id
    )
    favorited = exists().where(Favorite.user_id == viewer, Favorite.article_id == Article.id)
    return following.label("following"), favorited.label("favorited")


def _columns(signed_in: bool, with_body: bool) -> list[Any]:
    following, favorited = _flags(signed_in)
    columns: list[Any] = [
        Article.id,
        Article.slug,
        Article.title,
        Article.description,
        Article.created_at,
        Article.updated_at,
        Article.favorites_count,
        User.username,
        User.bio,
        User.image,
        following,
        favorited,
    ]
    if with_body:
        columns.append(Article.body)
    return columns


# Positions in the rows of `_columns` and what follows them (a page: the total, then the tag
# names; one article: its body, then its tag names). SQLAlchemy rows and asyncpg records
# both index so.
_BODY, _TOTAL, _TAG_NAMES = 12, 12, 13


def _view(row: Any, tags: list[str], with_body: bool) -> ArticleView:
    return ArticleView(
        id=row[0],
        slug=row[1],
        title=row[2],
        description=row[3],
        body=row[_BODY] if with_body else None,
        tag_list=tags,
        created_at=row[4],
        updated_at=row[5],
        favorited=bool(row[11]),
        favorites_count=row[6],
        author=ProfileView(username=row[7], bio=row[8], image=row[9], following=bool(row[10])),
    )


def _of_tag() -> ColumnElement[bool]:
    """The links of the tag bound as `tag_key`."""
    tag_id = select(Tag.id).where(Tag.name_key == bindparam("tag_key")).scalar_subquery()
    return ArticleTag.tag_id == tag_id


def _social(filters: frozenset[str]) -> list[ColumnElement[bool]]:
    """The filters on people: articles favourited by `favorited_by_key`, the feed of
    `feed_of` (the authors they follow)."""
    where: list[ColumnElement[bool]] = []
    if "favorited_by_key" in filters:
        fan = aliased(User)
        where.append(
            Article.id.in_(
                select(Favorite.article_id)
                .join(fan, fan.id == Favorite.user_id)
                .where(fan.username_key == bindparam("favorited_by_key"))
            )
        )
    if "feed_of" in filters:
        where.append(
            Article.author_id.in_(
                select(Follow.followed_id).where(Follow.follower_id == bindparam("feed_of"))
            )
        )
    return where


def _page_source(filters: frozenset[str]) -> tuple[FromClause, list[Any]]:
    """FROM and ORDER BY of a page's rows (which rows: `_keys`); with a tag, in the order
    of the tag's index."""
    source: FromClause = Article.__table__.join(User, User.id == Article.author_id)
    if "tag_key" in filters:
        source = ArticleTag.__table__.join(source, Article.id == ArticleTag.article_id)
        return source, [ArticleTag.created_at.desc(), ArticleTag.article_id.desc()]
    return source, [Article.created_at.desc(), Article.id.desc()]


def _feed_keys() -> Select[Any]:
    """The feed's keys in page order (PostgreSQL): the newest `limit + offset` of each
    followed author from the author's index, then the page of those. Filtering the articles
    by author instead reads and sorts every article of every followed author, a cost that
    grows with their history (docs/bench/soak.md); this one grows with the authors followed
    times the page's end."""
    newest = (
        select(Article.id, Article.created_at)
        .where(Article.author_id == Follow.followed_id)
        .order_by(Article.created_at.desc(), Article.id.desc())
        .limit(bindparam("limit", type_=Integer) + bindparam("offset", type_=Integer))
        .lateral("newest")
    )
    return (
        select(newest.c.id)
        .select_from(Follow.__table__.join(newest, true()))
        .where(Follow.follower_id == bindparam("feed_of"))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
    )


def _keys(filters: frozenset[str]) -> tuple[Any, Select[Any]]:
    """The matches' keys in page order, from as few tables as the filters need: a tag's
    links alone, or the articles alone (every article has its author, every link its
    article), so the ordering index answers them without visiting rows. With a tag, the
    key is the link's (article, tag): the page then reads each link by its primary key,
    where a filter on the tag alone would have the planner read all of the tag's links."""
    where: list[Any] = []
    key: Any
    columns: list[Any]
    order: list[Any]
    if "tag_key" in filters:
        columns = [ArticleTag.article_id, ArticleTag.tag_id]
        key = tuple_(*columns)
        order = [ArticleTag.created_at.desc(), ArticleTag.article_id.desc()]
        source: FromClause = ArticleTag.__table__
        where.append(_of_tag())
        if filters - {"tag_key"}:  # the others filter on the article's columns
            source = source.join(Article.__table__, Article.id == ArticleTag.article_id)
    else:
        key, columns, source = Article.id, [Article.id], Article.__table__
        order = [Article.created_at.desc(), Article.id.desc()]
    if "author_key" in filters:
        author = select(User.id).where(User.username_key == bindparam("author_key"))
        where.append(Article.author_id == author.scalar_subquery())
    where += _social(filters)
    return key, select(*columns).select_from(source).where(*where).order_by(*order)


def _total(filters: frozenset[str], keys: Select[Any]) -> Select[Any]:
    """The number of matches; kept counts answer the common cases without a scan, the
    others count the keys (the fewest tables the filters need)."""
    if not filters:
        return select(counter_dao.value_of(ARTICLES))
    if filters == {"tag_key"}:
        return select(
            select(func.coalesce(func.max(Tag.articles_count), 0))
            .where(Tag.name_key == bindparam("tag_key"))
            .scalar_subquery()
        )
    if filters == {"feed_of"}:  # each followed author's kept total, not their articles
        return select(
            select(cast(func.coalesce(func.sum(Counter.value), 0), BigInteger))
            .select_from(Follow)
            .join(Counter, Counter.name == articles_by_column(Follow.followed_id))
            .where(Follow.follower_id == bindparam("feed_of"), Counter.shard == 0)
            .scalar_subquery()
        )
    return select(func.count()).select_from(keys.order_by(None).subquery())


@cache
def _page_statements(shape: Shape, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """A page with the total and its tags in each row, and the total alone (for a page past
    the end)."""
    filters, signed_in = shape
    source, order = _page_source(filters)
    # The page's keys first, then only their rows: an OFFSET that skips 10,000 matches costs
    # 10,000 entries of the ordering index (an index-only scan), not 10,000 article rows
    # with their authors and flags (docs/bench/hotreads.md). Same rows, same order.
    key, keys = _keys(filters)
    total = _total(filters, keys)
    if filters == {"feed_of"} and dialect == "postgresql":  # SQLite has no LATERAL
        keys = _feed_keys()
    page = (
        select(
            *_columns(signed_in, with_body=False),
            total.scalar_subquery().label("total"),
            _tag_names(dialect),
        )
        .select_from(source)
        .where(key.in_(keys.limit(bindparam("limit")).offset(bindparam("offset"))))
        .order_by(*order)
        # What the keys hold anyway; it tells the planner the outer query is this small.
        .limit(bindparam("limit"))
    )
    return page, total


def _tag_names(dialect: str) -> ColumnElement[Any]:
    """The article's tag names as one column of its row: a PostgreSQL array, or on SQLite a
    JSON array (see `_names`). Saves a single article its second round trip."""
    link, tag = aliased(ArticleTag), aliased(Tag)  # apart from any tag filter outside
    aggregate = (
        func.array_agg(tag.name) if dialect == "postgresql" else func.json_group_array(tag.name)
    )
    return (
        select(aggregate)
        .select_from(link)
        .join(tag, tag.id == link.tag_id)
        .where(link.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
        .label("tag_names")
    )


def _names(aggregated: list[str] | str | None) -> list[str]:
    """Sorted tag names from `_tag_names` (no tags: NULL on PostgreSQL, '[]' on SQLite)."""
    if isinstance(aggregated, str):
        aggregated = orjson.loads(aggregated)
    return sorted(aggregated or [])


@cache
def _one_statement(by_slug: bool, signed_in: bool, dialect: str) -> Select[Any]:
    match = Article.slug == bindparam("slug") if by_slug else Article.id == bindparam("id")
    return (
        select(*_columns(signed_in, with_body=True), _tag_names(dialect))
        .join(User, User.id == Article.author_id)
        .where(match)
    )


class ArticleDAO:
    async def page(
        self,
        session: AsyncSession,
        filters: ArticleFilter,
        *,
        viewer_id: int | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ArticleView], int]:
        """A page of articles, newest first, and the number of matches: one query (two for
        a page past the end)."""
        params = filters.params()
        shape = (frozenset(params), viewer_id is not None)
        page, total = _page_statements(shape, dialect_name(session))
        if viewer_id is not None:
            params["viewer_id"] = viewer_id
        rows = await run_all(session, page, {**params, "limit": limit, "offset": offset})
        if not rows:  # past the end: the total still counts
            found = await run_one(session, total, params)
            return [], int(found[0] or 0) if found else 0
        views = [_view(row, _names(row[_TAG_NAMES]), with_body=False) for row in rows]
        return views, int(rows[0][_TOTAL])

    async def view(
        self,
        session: AsyncSession,
        *,
        viewer_id: int | None,
        article_id: int | None = None,
        slug: str | None = None,
    ) -> ArticleView | None:
        """One article, by id or slug, as the API shows it (body and tags included): one query."""
        if slug is not None and not can_hold(slug):
            return None
        statement = _one_statement(article_id is None, viewer_id is not None, dialect_name(session))
        params: dict[str, Any] = {"id": article_id} if article_id is not None else {"slug": slug}
        if viewer_id is not None:
            params["viewer_id"] = viewer_id
        row = await run_one(session, statement, params)
        if row is None:
            return None
        return _view(row, _names(row[_TAG_NAMES]), with_body=True)

    async def get_by_slug(
        self, session: AsyncSession, slug: str, *, lock: Lock | None = None
    ) -> Article | None:
        """The article whose current slug this is; `lock` holds its row until commit
        (PostgreSQL), so writers to one article take turns and each reads what the previous one
        left: "edit" still lets comments and favourites reference it, "delete" does not.
        SQLite's writers take turns anyway."""
        if not can_hold(slug):
            return None
        return await session.scalar(_locked(select(Article).where(Article.slug == slug), lock))

    async def get(
        self, session: AsyncSession, article_id: int, *, lock: Lock | None = None
    ) -> Article | None:
        return await session.scalar(_locked(select(Article).where(Article.id == article_id), lock))

    async def id_by_slug(self, session: AsyncSession, slug: str) -> int | None:
        if not can_hold(slug):
            return None
        return await session.scalar(select(Article.id).where(Article.slug == slug))

    async def add(self, session: AsyncSession, article: Article) -> Article:
        """Insert (the row's id set on `article`), its slug into the history too; SlugTaken,
        and nothing kept, when the slug is, or was, another article's (even one committed just
        now): the keys decide, not a lookup. No savepoint: a taken slug is a row not inserted
        (ON CONFLICT), or, when the history names another article, a row deleted again."""
        table = Article.__table__
        inserted = await session.execute(
            insert(session, table)
            .values(
                slug=article.slug,
                title=article.title,
                description=article.description,
                body=article.body,
                author_id=article.author_id,
                favorites_count=0,
                created_at=article.created_at,
                updated_at=article.updated_at,
            )
            .on_conflict_do_nothing(index_elements=[table.c.slug])
            .returning(table.c.id)
        )
        article_id = inserted.scalar()
        if article_id is None:
            raise SlugTaken()
        if not await slug_history_dao.claim(session, article_id, article.slug):
            await session.execute(delete(Article).where(Article.id == article_id))
            raise SlugTaken()
        article.id = article_id
        return article

    async def count_added(self, session: AsyncSession, author_id: int) -> None:
        """One more article in the kept totals (all, and its author's): the caller's last
        statement before commit, as writers share those rows and hold their locks until then."""
        await counter_dao.add(session, {ARTICLES: +1, articles_by(author_id): +1})

    async def update(self, session: AsyncSession, article: Article, values: dict[str, Any]) -> None:
        """Set columns and flush; SlugTaken (and nothing changed) when a new slug is, or was,
        another article's. The old slug stays in the history, naming this article."""
        renamed = values.get("slug", article.slug) != article.slug
        try:
            async with session.begin_nested():
                for name, value in values.items():
                    setattr(article, name, value)
                if renamed:
                    # The history row after the article's UPDATE, which locks the row: its
                    # foreign key check first would share-lock it, and two renames of one
                    # article would then deadlock on their UPDATEs.
                    await session.flush()
                    if not await slug_history_dao.claim(session, article.id, values["slug"]):
                        raise SlugTaken()
        except IntegrityError as exc:
            await session.refresh(article)
            if "slug" in str(exc.orig):
                raise SlugTaken() from exc
            raise
        except SlugTaken:
            await session.refresh(article)
            raise

    async def delete(self, session: AsyncSession, article_id: int) -> bool:
        """Delete with its comments, favourites and tag links, keeping counts right; False when
        there was no such article (another request deleted it first): nothing is counted."""
        await tag_dao.unlink_all(session, article_id)
        result = await session.execute(
            delete(Article).where(Article.id == article_id).returning(Article.author_id)
        )
        author_id = result.scalar()
        if author_id is None:
            return False
        await counter_dao.add(session, {ARTICLES: -1, articles_by(author_id): -1})
        return True

    # Favourites: the row and the article's count change together, and only when the row did.
    # On PostgreSQL in one statement (the count's UPDATE reads what the INSERT or DELETE
    # returned); SQLite has no data-modifying WITH, so it takes two.

    async def favorite(self, session: AsyncSession, user_id: int, article_id: int) -> None:
        """ArticleNotFound when the article was deleted since it was looked up."""
        params = {"user_id": user_id, "article_id": article_id}
        try:
            if dialect_name(session) == "postgresql":
                await session.execute(_FAVORITE, params)
                return
            added = await session.execute(_FAVORITE_ROW, params)
        except IntegrityError as exc:
            raise_if_article_gone(exc)
            raise
        if added.rowcount:  # type: ignore[attr-defined]
            await session.execute(_count_favorites(+1, Article.id == article_id))

    async def unfavorite(self, session: AsyncSession, user_id: int, article_id: int) -> None:
        params = {"user_id": user_id, "article_id": article_id}
        if dialect_name(session) == "postgresql":
            await session.execute(_UNFAVORITE, params)
            return
        removed = await session.execute(_UNFAVORITE_ROW, params)
        if removed.rowcount:  # type: ignore[attr-defined]
            await session.execute(_count_favorites(-1, Article.id == article_id))


def _count_favorites(delta: int, where: ColumnElement[bool]) -> Any:
    return (
        update(Article)
        .where(where)
        # A favourite is not an edit: updated_at stays (the ORM would bump it).
        .values(favorites_count=Article.favorites_count + delta, updated_at=Article.updated_at)
        .execution_options(synchronize_session=False)
    )


# On the tables, not the entity: executed with parameters, an ORM INSERT is a bulk insert
# whose result has no rowcount.
_FAVORITES = typing.cast(Table, Favorite.__table__)


def _favorite_row(dialect: str) -> Any:
    return (
        insert_for(dialect, _FAVORITES)
        .values(user_id=bindparam("user_id"), article_id=bindparam("article_id"))
        .on_conflict_do_nothing()
    )


_FAVORITE_ROW = _favorite_row("sqlite")
_UNFAVORITE_ROW = delete(_FAVORITES).where(
    _FAVORITES.c.user_id == bindparam("user_id"),
    _FAVORITES.c.article_id == bindparam("article_id"),
)


def _counted(change: Any, delta: int) -> Any:
    """`change` (returning the article id of the row it added or removed), then the article's
    count moved by `delta` if it did: one PostgreSQL statement."""
    changed = change.returning(_FAVORITES.c.article_id).cte("changed")
    return _count_favorites(delta, Article.id == select(changed.c.article_id).scalar_subquery())


_FAVORITE = _counted(_favorite_row("postgresql"), +1)
_UNFAVORITE = _counted(_UNFAVORITE_ROW, -1)


article_dao = ArticleDAO()


def _locked(statement: Select[Article], lock: Lock | None) -> Select[Article]:
    return statement if lock is None else statement.with_for_update(key_share=lock == "edit")

"""Articles, the feed and favourites: slugs, tags, and who may change what."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.articles import ArticleFilter, Lock, SlugTaken, article_dao
from service.daos.slug_history import ArticleRef, slug_history_dao
from service.daos.tags import tag_dao
from service.errors import ArticleForbidden, ArticleNotFound, Invalid
from service.models import Article, ArticleView, ProfileView, User
from service.models.base import utcnow
from service.services import slugs
from service.services import webhooks as webhook_service
from service.services.tags import normalize_tags, tag_key
from service.services.users import username_key

SLUG_ATTEMPTS = 5
REQUIRED = ("title", "description", "body")


async def list_articles(
    session: AsyncSession,
    viewer: User | None,
    *,
    tag: str | None,
    author: str | None,
    favorited: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ArticleView], int]:
    filters = ArticleFilter(
        tag_key=tag_key(tag.strip()) if tag is not None else None,
        author_key=username_key(author) if author is not None else None,
        favorited_by_key=username_key(favorited) if favorited is not None else None,
    )
    return await article_dao.page(
        session, filters, viewer_id=viewer.id if viewer else None, limit=limit, offset=offset
    )


async def feed(
    session: AsyncSession, viewer: User, *, limit: int, offset: int
) -> tuple[list[ArticleView], int]:
    return await article_dao.page(
        session, ArticleFilter(feed_of=viewer.id), viewer_id=viewer.id, limit=limit, offset=offset
    )


async def get(session: AsyncSession, slug: str, viewer: User | None) -> ArticleView:
    """The article the slug names, current or old: an old one gives a view whose slug differs
    (one more query, only then)."""
    viewer_id = viewer.id if viewer else None
    view = await article_dao.view(session, slug=slug, viewer_id=viewer_id)
    if view is None:
        moved = await slug_history_dao.current(session, slug)
        if moved is not None:
            view = await article_dao.view(session, article_id=moved.id, viewer_id=viewer_id)
    if view is None:
        raise ArticleNotFound()
    return view


async def create(
    session: AsyncSession,
    author: User,
    *,
    title: str,
    description: str,
    body: str,
    tags: Iterable[str],
) -> ArticleView:
    names = normalize_tags(tags)
    base = slugs.slugify(title)
    article = None
    now = utcnow()
    for attempt in range(SLUG_ATTEMPTS):
        candidate = Article(
            slug=slugs.candidate(base, attempt),
            title=title,
            description=description,
            body=body,
            author_id=author.id,
            favorites_count=0,
            created_at=now,
            updated_at=now,
        )
        try:
            article = await article_dao.add(session, candidate)
            break
        except SlugTaken:
            continue
    if article is None:  # five random suffixes taken: practically impossible
        raise Invalid("title", "could not be turned into a unique slug, try another")
    # Shared counts last (tags', then the total): their row locks are held until commit.
    # Every link of a new article is new, so each tag's count goes up by one.
    tags = await tag_dao.add_to_counts(session, names, dict.fromkeys(names, 1))
    await tag_dao.link(session, article.id, article.created_at, [t for t, _ in tags.values()])
    await article_dao.count_added(session, author.id)
    # Everything the response shows is known: no need to read the article back.
    view = ArticleView(
        id=article.id,
        slug=article.slug,
        title=article.title,
        description=article.description,
        body=article.body,
        tag_list=sorted(name for _, name in tags.values()),
        created_at=article.created_at,
        updated_at=article.updated_at,
        favorited=False,
        favorites_count=0,
        author=ProfileView(author.username, author.bio, author.image, following=False),
    )
    await webhook_service.emit(session, "article.published", webhook_service.article_data(view))
    return view


async def _own(session: AsyncSession, actor: User, slug: str, lock: Lock) -> Article:
    """The actor's article that the slug names (current or old), its row held until commit;
    ArticleNotFound, ArticleForbidden."""
    article = await article_dao.get_by_slug(session, slug, lock=lock)
    if article is None:
        moved = await slug_history_dao.current(session, slug)
        if moved is not None:
            article = await article_dao.get(session, moved.id, lock=lock)
    if article is None:
        raise ArticleNotFound()
    if article.author_id != actor.id:
        raise ArticleForbidden()
    return article


async def update(
    session: AsyncSession,
    actor: User,
    slug: str,
    changes: dict[str, Any],
    *,
    precondition: Callable[[ArticleView], None] | None = None,
) -> ArticleView:
    """Change fields and tags; a new title gives a new slug (the old one keeps naming the
    article). The row is locked first, so concurrent edits take turns; `precondition`
    (If-Match) is shown the article as the actor sees it after the lock, so no other write
    lands between its check and this one; it raises to refuse the change."""
    article = await _own(session, actor, slug, "edit")
    for name in (*REQUIRED, "tag_list"):
        if name in changes and changes[name] is None:
            raise Invalid("tagList" if name == "tag_list" else name, "can't be blank")
    # The whole change is checked (422) before its precondition (412).
    tags = normalize_tags(changes["tag_list"]) if "tag_list" in changes else None
    if precondition is not None:
        precondition(await _view(session, article.id, actor))
    values = {name: changes[name] for name in REQUIRED if name in changes}
    if tags is not None:
        await _retag(session, article, tags)
        values["updated_at"] = utcnow()
    if "title" in values and values["title"] != article.title:
        await _update_with_new_slug(session, article, values)
    elif values:
        await article_dao.update(session, article, values)
    view = await _view(session, article.id, actor)
    await webhook_service.emit(session, "article.updated", webhook_service.article_data(view))
    return view


async def _update_with_new_slug(
    session: AsyncSession, article: Article, values: dict[str, Any]
) -> None:
    base = slugs.slugify(values["title"])
    for attempt in range(SLUG_ATTEMPTS):
        slug = slugs.candidate(base, attempt)
        try:
            await article_dao.update(session, article, {**values, "slug": slug})
            return
        except SlugTaken:
            continue
    raise Invalid("title", "could not be turned into a unique slug, try another")


async def _retag(session: AsyncSession, article: Article, names: dict[str, str]) -> None:
    """Under the article's row lock (its links change only under it): the tags' counts move in
    one statement by exactly the links added and removed."""
    current = await tag_dao.of_article(session, article.id)
    added = [key for key in names if key not in current]
    removed = [key for key in current if key not in names]
    deltas = {**dict.fromkeys(added, +1), **dict.fromkeys(removed, -1)}
    spelled = {**{key: name for key, (_, name) in current.items()}, **names}
    tags = await tag_dao.add_to_counts(session, spelled, deltas)
    await tag_dao.unlink(session, article.id, [current[key][0] for key in removed])
    await tag_dao.link(session, article.id, article.created_at, [tags[key][0] for key in added])


async def delete(session: AsyncSession, actor: User, slug: str) -> None:
    article = await _own(session, actor, slug, "delete")
    if not await article_dao.delete(session, article.id):
        raise ArticleNotFound()


async def locate(session: AsyncSession, slug: str) -> ArticleRef:
    """The article a slug names, current or old, with its current slug; ArticleNotFound when
    none. An old slug costs one more query, only then."""
    article_id = await article_dao.id_by_slug(session, slug)
    if article_id is not None:
        return ArticleRef(article_id, slug)
    moved = await slug_history_dao.current(session, slug)
    if moved is None:
        raise ArticleNotFound()
    return moved


async def _article_id(session: AsyncSession, slug: str) -> int:
    return (await locate(session, slug)).id


async def favorite(session: AsyncSession, user: User, slug: str) -> ArticleView:
    article_id = await _article_id(session, slug)
    await article_dao.favorite(session, user.id, article_id)
    return await _view(session, article_id, user)


async def unfavorite(session: AsyncSession, user: User, slug: str) -> ArticleView:
    article_id = await _article_id(session, slug)
    await article_dao.unfavorite(session, user.id, article_id)
    return await _view(session, article_id, user)


async def _view(session: AsyncSession, article_id: int, viewer: User) -> ArticleView:
    view = await article_dao.view(session, article_id=article_id, viewer_id=viewer.id)
    if view is None:  # deleted by its author a moment ago
        raise ArticleNotFound()
    return view


async def article_id_for(session: AsyncSession, slug: str) -> int:
    """The id behind a slug, current or old; ArticleNotFound when there is none."""
    return await _article_id(session, slug)

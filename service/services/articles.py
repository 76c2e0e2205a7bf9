"""Articles, the feed and favourites: slugs, tags, and who may change what."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.articles import ArticleFilter, SlugTaken, article_dao
from service.daos.tags import tag_dao
from service.errors import ArticleForbidden, ArticleNotFound, Invalid
from service.models import Article, ArticleView, ProfileView, User
from service.models.base import utcnow
from service.services import webhooks as webhook_service
from service.services.slugs import slugify, with_suffix
from service.services.users import username_key

SLUG_ATTEMPTS = 5
REQUIRED = ("title", "description", "body")


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, each once, in the order given; an empty tag is refused."""
    seen: dict[str, None] = {}
    for tag in tags:
        name = tag.strip()
        if not name:
            raise Invalid("tagList", "can't contain blank tags")
        seen.setdefault(name, None)
    return list(seen)


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
        tag=tag.strip() if tag is not None else None,
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
    view = await article_dao.view(session, slug=slug, viewer_id=viewer.id if viewer else None)
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
    base = slugify(title)
    article = None
    for attempt in range(SLUG_ATTEMPTS):
        candidate = Article(
            slug=base if attempt == 0 else with_suffix(base),
            title=title,
            description=description,
            body=body,
            author_id=author.id,
        )
        try:
            article = await article_dao.add(session, candidate)
            break
        except SlugTaken:
            continue
    if article is None:  # five random suffixes taken: practically impossible
        raise Invalid("title", "could not be turned into a unique slug, try another")
    tag_ids = await tag_dao.ids_for(session, names)
    # Shared counts last (tags', then the total): their row locks are held until commit.
    await tag_dao.link(session, article.id, article.created_at, tag_ids.values())
    await article_dao.count_added(session)
    # Everything the response shows is known: no need to read the article back.
    view = ArticleView(
        id=article.id,
        slug=article.slug,
        title=article.title,
        description=article.description,
        body=article.body,
        tag_list=sorted(names),
        created_at=article.created_at,
        updated_at=article.updated_at,
        favorited=False,
        favorites_count=0,
        author=ProfileView(author.username, author.bio, author.image, following=False),
    )
    await webhook_service.emit(session, "article.published", webhook_service.article_data(view))
    return view


async def _own(session: AsyncSession, actor: User, slug: str) -> Article:
    article = await article_dao.get_by_slug(session, slug)
    if article is None:
        raise ArticleNotFound()
    if article.author_id != actor.id:
        raise ArticleForbidden()
    return article


async def update(
    session: AsyncSession, actor: User, slug: str, changes: dict[str, Any]
) -> ArticleView:
    """Change fields and tags; a new title gives a new slug (the old one then answers 404)."""
    article = await _own(session, actor, slug)
    for name in (*REQUIRED, "tag_list"):
        if name in changes and changes[name] is None:
            raise Invalid("tagList" if name == "tag_list" else name, "can't be blank")
    values = {name: changes[name] for name in REQUIRED if name in changes}
    if "tag_list" in changes:
        await _retag(session, article, normalize_tags(changes["tag_list"]))
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
    base = slugify(values["title"])
    for attempt in range(SLUG_ATTEMPTS):
        slug = base if attempt == 0 else with_suffix(base)
        try:
            await article_dao.update(session, article, {**values, "slug": slug})
            return
        except SlugTaken:
            continue
    raise Invalid("title", "could not be turned into a unique slug, try another")


async def _retag(session: AsyncSession, article: Article, names: list[str]) -> None:
    current = await tag_dao.ids_of_article(session, article.id)
    wanted = set((await tag_dao.ids_for(session, names)).values())
    await tag_dao.unlink(session, article.id, current - wanted)
    await tag_dao.link(session, article.id, article.created_at, wanted - current)


async def delete(session: AsyncSession, actor: User, slug: str) -> None:
    article = await _own(session, actor, slug)
    await article_dao.delete(session, article.id)


async def _article_id(session: AsyncSession, slug: str) -> int:
    article_id = await article_dao.id_by_slug(session, slug)
    if article_id is None:
        raise ArticleNotFound()
    return article_id


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
    """The id behind a slug; ArticleNotFound when there is none."""
    return await _article_id(session, slug)

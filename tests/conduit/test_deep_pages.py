"""Pages found by their keys first (daos/articles.py `_keys`) are the pages a plain OFFSET
gives: the same rows in the same order, ties broken by id, the same articlesCount, for every
filter and at every offset, past the end included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from service.models import Article, ArticleTag, Favorite, Follow, Tag, User

LIMIT = 4


@pytest.fixture
async def shelf(app, client, users, articles):
    """17 articles by 3 authors, on tags `common` (all) and `odd`, 6 favourited by the reader,
    who follows two authors; created_at set to four values only, so ties decide most of the
    order (and each tag link keeps its article's time, as the writers keep it)."""
    authors = [await users.make() for _ in range(3)]
    reader = await users.make()
    for author in authors[:2]:
        await client.post(f"/api/profiles/{author.username}/follow", headers=reader.headers)
    for n in range(17):
        tags = ["common", "odd"] if n % 2 else ["common"]
        made = await articles.make(authors[n % 3], title=f"Shelf {n}", tags=tags)
        if n % 3 == 1:
            await client.post(f"/api/articles/{made['slug']}/favorite", headers=reader.headers)
    async with app.extensions["db"].sessionmaker() as session, session.begin():
        start = await session.scalar(select(func.min(Article.created_at)))
        for bucket in range(4):
            await session.execute(
                update(Article)
                .where(Article.id % 4 == bucket)
                .values(created_at=start + timedelta(seconds=bucket * (bucket % 2)))
            )
        own_time = select(Article.created_at).where(Article.id == ArticleTag.article_id)
        await session.execute(update(ArticleTag).values(created_at=own_time.scalar_subquery()))
    return authors, reader


def _naive(filter_name: str, value: str | int) -> object:
    """Every match in page order, as the statement before the keys-first pages read them."""
    newest = [Article.created_at.desc(), Article.id.desc()]
    if filter_name == "tag":
        return (
            select(Article.slug)
            .join(ArticleTag, ArticleTag.article_id == Article.id)
            .join(Tag, Tag.id == ArticleTag.tag_id)
            .where(Tag.name_key == value)
            .order_by(ArticleTag.created_at.desc(), ArticleTag.article_id.desc())
        )
    query = select(Article.slug).join(User, User.id == Article.author_id)
    if filter_name == "author":
        query = query.where(User.username_key == value)
    elif filter_name == "favorited":
        fans = select(Favorite.article_id).join(User, User.id == Favorite.user_id)
        query = query.where(Article.id.in_(fans.where(User.username_key == value)))
    elif filter_name == "feed":
        followed = select(Follow.followed_id).where(Follow.follower_id == value)
        query = query.where(Article.author_id.in_(followed))
    return query.order_by(*newest)


async def _expected(app, filter_name: str, value: str | int) -> list[str]:
    async with app.extensions["db"].sessionmaker() as session:
        return list(await session.scalars(_naive(filter_name, value)))


async def _page(client, path: str, offset: int, headers, limit: int = LIMIT) -> dict:
    sep = "&" if "?" in path else "?"
    response = await client.get(f"{path}{sep}limit={limit}&offset={offset}", headers=headers)
    assert response.status_code == 200, await response.get_json()
    return await response.get_json()


async def test_every_page_is_the_plain_offset_page(app, client, shelf):
    authors, reader = shelf
    author = authors[1].username
    cases = [
        ("/api/articles", "all", 0),
        ("/api/articles?tag=common", "tag", "common"),
        ("/api/articles?tag=odd", "tag", "odd"),
        (f"/api/articles?author={author}", "author", author.lower()),
        (f"/api/articles?favorited={reader.username}", "favorited", reader.username.lower()),
        ("/api/articles/feed", "feed", reader.id),
    ]
    for path, filter_name, value in cases:
        expected = await _expected(app, filter_name, value)
        assert len(expected) >= 6, path  # enough for several pages
        whole = (await _page(client, path, 0, reader.headers, limit=100))["articles"]
        assert [a["slug"] for a in whole] == expected, path
        for offset in range(len(expected) + 2):
            page = await _page(client, path, offset, reader.headers)
            assert [a["slug"] for a in page["articles"]] == expected[offset : offset + LIMIT], (
                path,
                offset,
            )
            assert page["articlesCount"] == len(expected), (path, offset)
            # Flags, tags and counts are the article's own, wherever the page starts.
            assert page["articles"] == whole[offset : offset + LIMIT], (path, offset)


async def test_combined_filters_page_as_the_plain_offset(app, client, shelf):
    authors, reader = shelf
    author = authors[0].username
    path = f"/api/articles?tag=odd&author={author}"
    async with app.extensions["db"].sessionmaker() as session:
        expected = list(
            await session.scalars(
                select(Article.slug)
                .join(ArticleTag, ArticleTag.article_id == Article.id)
                .join(Tag, Tag.id == ArticleTag.tag_id)
                .join(User, User.id == Article.author_id)
                .where(Tag.name_key == "odd", User.username_key == author.lower())
                .order_by(ArticleTag.created_at.desc(), ArticleTag.article_id.desc())
            )
        )
    assert expected
    for offset in range(len(expected) + 1):
        page = await _page(client, path, offset, reader.headers)
        assert [a["slug"] for a in page["articles"]] == expected[offset : offset + LIMIT]
        assert page["articlesCount"] == len(expected)

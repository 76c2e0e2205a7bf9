"""Tags in use, most used first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.tags import tag_dao

# A bound on the answer's size; far above what a tag cloud shows.
MAX_TAGS = 1000


async def in_use(session: AsyncSession) -> list[str]:
    return await tag_dao.in_use(session, MAX_TAGS)

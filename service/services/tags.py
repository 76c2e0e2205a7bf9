"""Tags in use, most used first, from a short-lived per-process cache."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.tags import tag_dao
from service.errors import Invalid
from service.models import TAG_KEY_MAX

# A bound on the answer's size; far above what a tag cloud shows.
MAX_TAGS = 1000


def tag_key(name: str) -> str:
    """The identity of a tag: letter case (and compatibility forms) aside, as for usernames."""
    return unicodedata.normalize("NFKC", name).casefold()


def normalize_tags(tags: Iterable[str]) -> dict[str, str]:
    """Each tag once by key, trimmed, as first spelled here (a tag that exists keeps the
    spelling it was made with); Invalid for a blank tag or one folding past its column."""
    seen: dict[str, str] = {}
    for tag in tags:
        name = tag.strip()
        if not name:
            raise Invalid("tagList", "can't contain blank tags")
        key = tag_key(name)
        if len(key) > TAG_KEY_MAX:
            raise Invalid(
                "tagList", f"is too long (maximum is {TAG_KEY_MAX} characters once case-folded)"
            )
        seen.setdefault(key, name)
    return seen


class TagCache:
    """GET /api/tags is the most repeated read and the least sensitive to staleness (a tag
    cloud), so each process keeps the answer for `seconds` (TAGS_CACHE_SECONDS; 0 turns it
    off). A new tag shows within that time on every worker alike; no invalidation, so no
    worker is fresher than another. Concurrent misses each query: no lock to wait on."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._names: list[str] = []
        self._until = 0.0

    async def in_use(self, session: AsyncSession) -> list[str]:
        now = time.monotonic()
        if now < self._until:
            return self._names
        names = await tag_dao.in_use(session, MAX_TAGS)
        if self.seconds > 0:
            self._names, self._until = names, now + self.seconds
        return names

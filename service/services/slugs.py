"""Readable, URL-safe slugs from titles."""

from __future__ import annotations

import re
import secrets
import unicodedata

from service.models import SLUG_MAX

BASE_MAX = 80  # readable, and room for a suffix
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """'Hello, Wörld!' -> 'hello-world'; a title with no usable letters gives 'article'."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")
    slug = slug[:BASE_MAX].rstrip("-")
    return slug or "article"


def with_suffix(base: str) -> str:
    """The base with a short random suffix, for when the plain slug is taken."""
    slug = f"{base}-{secrets.token_hex(4)}"
    return slug[:SLUG_MAX]


# Fixed path segments where a slug would go (GET /api/articles/feed): an article with such a
# slug would be shadowed by that route. tests/conduit/test_reserved_slugs.py reads the routes.
RESERVED = frozenset({"feed"})


def candidate(base: str, attempt: int) -> str:
    """The slug to try at `attempt` (0 first): the base itself unless reserved, then suffixed."""
    if attempt == 0 and base not in RESERVED:
        return base
    return with_suffix(base)

"""Readable, URL-safe slugs from titles."""

from __future__ import annotations

import re
import secrets
import unicodedata

from anyascii import anyascii

from service.models import SLUG_MAX

BASE_MAX = 80  # readable, and room for a suffix
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Transliterations of letters such as Arabic ayin and Hebrew ayin/alef: dropped, not word breaks.
_LETTER_MARKS = frozenset("'`")


def transliterate(title: str) -> str:
    """ASCII that reads like the title (anyascii): 'Привет' -> 'Privet', '你好' -> ' Ni  Hao '.

    Each CJK ideograph stands for a syllable and Chinese and Japanese write no spaces, so every
    ideograph becomes a word of its own; other scripts keep their words as written.
    """
    out = []
    for char in unicodedata.normalize("NFKC", title):
        if char.isascii():
            out.append(char)
            continue
        ascii_char = anyascii(char)
        if ascii_char in _LETTER_MARKS:
            continue
        if unicodedata.name(char, "").startswith("CJK "):
            ascii_char = f" {ascii_char} "
        out.append(ascii_char)
    return "".join(out)


def slugify(title: str) -> str:
    """'Hello, Wörld!' -> 'hello-world'; a title with no usable letters gives 'article'."""
    ascii_title = transliterate(title)
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

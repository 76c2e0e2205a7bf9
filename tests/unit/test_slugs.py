"""Slugs are readable ASCII in every script: transliterated, never just `article`."""
# ruff: noqa: RUF001  (titles in Greek and Cyrillic: the look-alike letters are the point)

from __future__ import annotations

import re

import pytest

from service.models import SLUG_MAX
from service.schemas.conduit import TITLE_MAX
from service.services.slugs import BASE_MAX, slugify, with_suffix


@pytest.mark.parametrize(
    ("script", "title", "slug"),
    [
        ("Latin", "Héllo, Wörld! ¿Qué?", "hello-world-que"),
        ("Cyrillic", "Привет, мир!", "privet-mir"),
        ("Cyrillic (Ukrainian)", "Україна сьогодні", "ukraina-sogodni"),
        ("Greek", "Γειά σου Κόσμε", "geia-soy-kosme"),
        ("CJK (Chinese)", "你好世界", "ni-hao-shi-jie"),
        ("CJK (Japanese kana and kanji)", "こんにちは世界", "konnichiha-shi-jie"),
        ("CJK (Korean)", "안녕하세요 세계", "annyeonghaseyo-segye"),
        ("Arabic", "مرحبا بالعالم", "mrhb-bllm"),
        ("Hebrew", "שלום עולם", "slvm-vlm"),
        ("Devanagari", "नमस्ते दुनिया", "nmste-duniya"),
        ("Thai", "สวัสดีชาวโลก", "swasdichawolk"),
        ("emoji only", "🚀🔥", "rocket-fire"),
        ("emoji only, one", "🎉", "tada"),
        ("mixed", "Python и 数据", "python-i-shu-ju"),
    ],
)
def test_every_script_gets_a_readable_slug(script, title, slug):
    assert slugify(title) == slug, script


def test_a_title_with_nothing_to_read_still_gets_a_slug():
    assert slugify("¿?¡!") == "article"
    assert slugify("   ") == "article"


@pytest.mark.parametrize("char", ["語", "ж", "ق", "क", "ก", "😀", "w"])
def test_longest_titles_stay_within_the_column(char):
    """A CJK title grows about fivefold in transliteration; the slug is still cut to size."""
    base = slugify(char * TITLE_MAX)
    assert 0 < len(base) <= BASE_MAX
    assert not base.endswith("-")
    suffixed = with_suffix(base)
    assert len(suffixed) <= SLUG_MAX
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", suffixed)

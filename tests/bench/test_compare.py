"""How the bench reports the stack limit's answers against the service's (bench/compare.py)."""

from __future__ import annotations

from bench.compare import Answer, Probe, describe, first_difference

JSON = "application/json; charset=utf-8"
PROBE = Probe("/api/articles?limit=20")


def test_equal_answers_have_no_difference() -> None:
    body = b'{"articles":[],"articlesCount":0}'
    assert describe(PROBE, Answer(200, JSON, body), Answer(200, JSON, body)) is None


def test_the_first_differing_byte_is_named_with_its_context() -> None:
    service = b'{"favorited":false,"favoritesCount":10}'
    twin = b'{"favorited":false,"favoritesCount":11}'
    assert first_difference(service, twin) == len(b'{"favorited":false,"favoritesCount":1')
    text = describe(PROBE, Answer(200, JSON, service), Answer(200, JSON, twin))
    assert text is not None
    assert "bodies differ at byte 37" in text
    assert '"favoritesCount":10}' in text
    assert '"favoritesCount":11}' in text


def test_a_body_that_stops_early_differs_where_it_stops() -> None:
    assert first_difference(b'{"a":1}', b'{"a":1}\n') == 7


def test_status_and_content_type_count_too() -> None:
    body = b"{}"
    assert "status 200 (service) != 404" in str(
        describe(PROBE, Answer(200, JSON, body), Answer(404, JSON, body))
    )
    assert "content type" in str(
        describe(PROBE, Answer(200, JSON, body), Answer(200, "application/json", body))
    )

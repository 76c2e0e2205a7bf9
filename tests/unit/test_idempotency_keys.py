"""Idempotency keys without a database: the key's form, the request's fingerprint, the scope."""

from __future__ import annotations

import pytest

from service.errors import IdempotencyKeyInvalid
from service.services import idempotency as idempotency_service


@pytest.mark.parametrize("key", ["a", "k" * 255, "8e03978e-40d5-43e8-bc93-6894a57f9324", "a b~!"])
def test_keys_of_printable_ascii_are_taken_as_sent(key):
    assert idempotency_service.check_key(key) == key


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\t", "nul\x00", "del\x7f", "café", "line\n"])
def test_other_keys_are_refused(key):
    with pytest.raises(IdempotencyKeyInvalid):
        idempotency_service.check_key(key)


def test_the_fingerprint_is_the_method_the_path_and_the_body_as_data():
    fingerprint = idempotency_service.fingerprint
    base = fingerprint("POST", "/api/articles", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("post", "/api/articles", b'{"b":[1,2],\n "a":1}') == base
    assert fingerprint("POST", "/api/articles", b'{"a": 2, "b": [1, 2]}') != base
    assert fingerprint("POST", "/api/articles", b'{"a": 1, "b": [2, 1]}') != base
    assert fingerprint("PUT", "/api/articles", b'{"a": 1, "b": [1, 2]}') != base
    assert fingerprint("POST", "/api/articles/x", b'{"a": 1, "b": [1, 2]}') != base
    # Not JSON: compared byte for byte.
    assert fingerprint("POST", "/p", b"not json") == fingerprint("POST", "/p", b"not json")
    assert fingerprint("POST", "/p", b"not json") != fingerprint("POST", "/p", b"not json ")
    # Parts are length-prefixed: moving bytes from the path to the body changes it.
    assert fingerprint("POST", "/p1", b"2") != fingerprint("POST", "/p", b"12")


def test_an_address_scope_is_a_keyed_hash_of_the_address():
    scope = idempotency_service.address_scope("198.51.100.7", "secret-one")
    assert "198.51.100.7" not in scope
    assert len(scope) <= 64
    assert scope == idempotency_service.address_scope("198.51.100.7", "secret-one")
    assert scope != idempotency_service.address_scope("198.51.100.8", "secret-one")
    assert scope != idempotency_service.address_scope("198.51.100.7", "secret-two")
    assert idempotency_service.user_scope(7) != idempotency_service.user_scope(70)

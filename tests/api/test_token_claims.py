"""Tokens signed with our key but carrying claims we never issue: 401, never a 500; and an
expired token says so."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from tests.helpers import error_of


def _part(value: object) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")


def _signed(secret: str, **claims: object) -> str:
    """An HS256 token with these claims, signed by hand: PyJWT would refuse to write some."""
    now = int(time.time())
    payload = {"sub": "1", "iat": now, "exp": now + 3600, "iss": "conduit-service", **claims}
    signing_input = _part({"alg": "HS256", "typ": "JWT"}) + b"." + _part(payload)
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


async def test_odd_claims_in_a_correctly_signed_token_are_401(client, settings, users):
    made = await users.make()
    secret = settings.secret_key.get_secret_value()
    sub = str(made.id)
    odd = [
        {"exp": "9999999999"},
        {"exp": 1e20},
        {"exp": 10**30},
        {"exp": 9_999_999_999.5},
        {"exp": True},
        {"exp": [1]},
        {"exp": float("nan")},
        {"iat": "0"},
        {"iat": 1e20},
        {"sub": 1},
        {"sub": " 1"},
        {"sub": "1e3"},
        {"sub": "99999999999999999999"},
        {"iss": ["conduit-service"]},
        # A refresh-token family: of a kind we never write, or one that does not exist.
        {"fam": "1"},
        {"fam": 0},
        {"fam": True},
        {"fam": 10**12},
        {"fam": 12345},
        {"typ": "refresh"},
        {"typ": ["access"]},
    ]
    for claims in odd:
        token = _signed(secret, **{"sub": sub, **claims})
        for path in ("/api/user", "/api/articles"):  # required and optional auth alike
            response = await client.get(path, headers={"Authorization": f"Token {token}"})
            assert await error_of(response, 401) == {"token": ["is invalid"]}, (claims, path)


async def test_an_expired_token_says_it_has_expired(client, settings, users):
    made = await users.make()
    secret = settings.secret_key.get_secret_value()
    past = int(time.time()) - 7200
    token = _signed(secret, sub=str(made.id), iat=past, exp=past + 3600)
    for _ in range(2):  # the first read and a remembered one answer alike
        response = await client.get("/api/user", headers={"Authorization": f"Token {token}"})
        assert await error_of(response, 401) == {"token": ["has expired"]}

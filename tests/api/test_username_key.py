"""A username is kept as typed and unique by its case-folded key, which may be longer than the
name: one that folds past what the key column holds is refused before any password is hashed."""

from __future__ import annotations

from tests.helpers import error_of

# U+FDFA is one character that NFKC spells with eighteen: fifteen of them fold to 270.
LONG_FOLD = "\ufdfa" * 15
TOO_LONG = {"username": ["is too long (maximum is 256 characters once case-folded)"]}


def _count_hashes(app):
    hasher = app.extensions["security"].hasher
    calls = []
    original = hasher.hash

    async def counted(password: str) -> str:
        calls.append(password)
        return await original(password)

    hasher.hash = counted
    return calls


async def test_register_refuses_a_username_folding_too_long_before_hashing(app, client):
    hashes = _count_hashes(app)
    user = {"username": LONG_FOLD, "email": "fold@example.com", "password": "long enough"}
    response = await client.post("/api/users", json={"user": user})
    assert await error_of(response, 422) == TOO_LONG
    assert hashes == []
    # Right at the limit is fine: 14 x 18 = 252 characters of key.
    user = {"username": "\ufdfa" * 14, "email": "fold@example.com", "password": "long enough"}
    response = await client.post("/api/users", json={"user": user})
    assert response.status_code == 201, await response.get_json()


async def test_updates_refuse_it_too_before_hashing(app, client, users):
    alice = await users.make()
    hashes = _count_hashes(app)
    changes = {"user": {"username": LONG_FOLD, "password": "a new password"}}
    for method, path in [("PUT", "/api/user"), ("PATCH", f"/api/users/{alice.id}")]:
        response = await client.open(path, method=method, json=changes, headers=alice.headers)
        assert await error_of(response, 422) == TOO_LONG, path
    assert hashes == []
    current = await (await client.get("/api/user", headers=alice.headers)).get_json()
    assert current["user"]["username"] == alice.username

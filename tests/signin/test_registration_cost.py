"""Registration spends no hash on what it will refuse, and hashing is shared fairly between
client addresses: one address flooding POST /api/users cannot shut out everyone's logins."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.factories import UserFactory
from tests.helpers import error_of


def register(client, n, address=None, **overrides):
    user = {"username": f"new{n}", "email": f"new{n}@example.com", "password": "a-password-1"}
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/api/users", json={"user": {**user, **overrides}}, headers=headers)


class Counting:
    """The real argon2 hasher, counting hashes."""

    def __init__(self, real) -> None:
        self.real = real
        self.hashes = 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        return self.real.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self.real.check_needs_rehash(password_hash)


class Gated(Counting):
    """Hashes wait for `release` (a slow hash, in effect); verifies run at once."""

    def __init__(self, real) -> None:
        super().__init__(real)
        self.entered = threading.Event()
        self.release = threading.Event()

    def hash(self, password: str) -> str:
        self.entered.set()
        self.release.wait(10)
        return super().hash(password)


async def test_a_taken_username_or_email_costs_no_hash(app):
    client = app.test_client()
    hasher = app.extensions["security"].hasher
    counting = Counting(hasher._argon2)
    hasher._argon2 = counting
    assert (await register(client, 1)).status_code == 201
    assert counting.hashes == 1
    taken_name = await register(client, 1, email="other@example.com", username="NEW1")
    assert await error_of(taken_name, 409) == {"username": ["has already been taken"]}
    taken_email = await register(client, 2, email="New1@Example.com")
    assert await error_of(taken_email, 409) == {"email": ["has already been taken"]}
    assert counting.hashes == 1


async def _settled(tasks, hasher, total: int) -> None:
    """Until every task has either finished or is waiting on a hash."""
    deadline = time.monotonic() + 10
    while sum(t.done() for t in tasks) + hasher._pending < total:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_one_address_cannot_take_all_the_hashing(app_with):
    app = await app_with(
        trusted_proxy_hops=1, hash_threads=1, hash_queue_seconds=2, hash_queue_per_address=1
    )
    client = app.test_client()
    member = await UserFactory(app).make(email="member@example.com", password="member-password")
    hasher = app.extensions["security"].hasher
    gated = Gated(hasher._argon2)
    hasher._argon2 = gated
    hasher._mean_seconds = 1.0  # a hash takes a second: two queued would pass the 2 s budget
    try:
        flood = [asyncio.create_task(register(client, n, "203.0.113.9")) for n in range(5)]
        assert await asyncio.to_thread(gated.entered.wait, 10)
        await _settled(flood, hasher, len(flood))
        login = asyncio.create_task(
            client.post(
                "/api/users/login",
                json={"user": {"email": member.email, "password": member.password}},
                headers={"X-Forwarded-For": "198.51.100.20"},
            )
        )
        await _settled([*flood, login], hasher, len(flood) + 1)
        gated.release.set()
        # The member from another address gets in, behind the flood's one hash.
        assert (await login).status_code == 200
        answers = [await task for task in flood]
        assert sorted(r.status_code for r in answers) == [201, 503, 503, 503, 503]
        refused = next(r for r in answers if r.status_code == 503)
        assert await error_of(refused, 503) == {"request": ["the server is busy, try again later"]}
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        gated.release.set()

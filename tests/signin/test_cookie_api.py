"""A signed-in browser calling the API with its cookie: same rules as a token, plus CSRF."""

from __future__ import annotations

from tests.helpers import error_of
from tests.signin.helpers import sign_in


async def test_cookie_reads_need_no_csrf(client, users):
    alice = await users.make(username="alice")
    await sign_in(client, alice.email, alice.password)
    response = await client.get("/api/user")
    assert response.status_code == 200
    assert (await response.get_json())["user"]["username"] == "alice"


async def test_cookie_writes_need_the_csrf_header(client, users):
    alice = await users.make()
    token = await sign_in(client, alice.email, alice.password)
    body = {"user": {"bio": "from the browser"}}
    response = await client.put("/api/user", json=body)
    assert await error_of(response, 403) == {"csrf": ["token is missing or invalid"]}
    response = await client.put("/api/user", json=body, headers={"X-CSRF-Token": "forged"})
    await error_of(response, 403)
    unchanged = await (await client.get("/api/user")).get_json()
    assert unchanged["user"]["bio"] is None
    response = await client.put("/api/user", json=body, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert (await response.get_json())["user"]["bio"] == "from the browser"
    article = {"article": {"title": "By cookie", "description": "d", "body": "b"}}
    response = await client.post("/api/articles", json=article)
    await error_of(response, 403)
    response = await client.post("/api/articles", json=article, headers={"X-CSRF-Token": token})
    assert response.status_code == 201


async def test_token_calls_need_no_csrf_even_with_a_cookie(client, users):
    alice = await users.make()
    await sign_in(client, alice.email, alice.password)
    response = await client.put("/api/user", json={"user": {"bio": "token"}}, headers=alice.headers)
    assert response.status_code == 200


async def test_admin_signed_in_by_page_lists_users(client, users):
    admin = await users.admin(username="root")
    await users.make()
    await sign_in(client, admin.email, admin.password)
    response = await client.get("/api/users")
    assert response.status_code == 200
    assert (await response.get_json())["usersCount"] == 2
    page = await client.get("/account")
    assert 'id="role">admin<' in await page.get_data(as_text=True)


async def test_cookie_user_gets_the_same_authorization(client, users, articles):
    alice, bob = await users.make(), await users.make()
    await articles.make(alice, title="Alices")
    token = await sign_in(client, bob.email, bob.password)
    csrf = {"X-CSRF-Token": token}
    assert await error_of(await client.get("/api/users"), 403) == {"user": ["forbidden"]}
    response = await client.get(f"/api/users/{alice.id}")
    await error_of(response, 403)
    response = await client.delete("/api/articles/alices", headers=csrf)
    assert await error_of(response, 403) == {"article": ["forbidden"]}
    response = await client.post(
        f"/api/users/{alice.id}", json={"user": {"bio": "hacked"}}, headers=csrf
    )
    await error_of(response, 403)


async def test_forged_cookie_is_ignored(client, users):
    client.set_cookie("localhost", "conduit_session", "eyJ1aWQiOjF9.forged.signature")
    assert await error_of(await client.get("/api/user"), 401) == {"token": ["is missing"]}
    assert (await client.get("/account")).status_code == 303

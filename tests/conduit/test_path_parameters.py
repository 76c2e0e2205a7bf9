"""A slug, username or email that no row can hold is an unknown one (404, or a failed login),
never a 500: PostgreSQL refuses NUL in text outright, even as a query parameter."""

from __future__ import annotations

from tests.helpers import error_of
from tests.signin.helpers import submit_login

ODD_NAMES = ["a%00b", "%00", "a%ED%A0%80b", "a%FFb"]


async def test_odd_usernames_in_profile_paths_are_404(client, users):
    alice = await users.make()
    for name in ODD_NAMES:
        for method, path in [
            ("GET", f"/api/profiles/{name}"),
            ("POST", f"/api/profiles/{name}/follow"),
            ("DELETE", f"/api/profiles/{name}/follow"),
        ]:
            response = await client.open(path, method=method, headers=alice.headers)
            assert await error_of(response, 404) == {"profile": ["not found"]}, (method, path)


async def test_odd_slugs_in_article_paths_are_404(client, users, articles):
    alice = await users.make()
    await articles.make(alice)
    body = {"article": {"title": "New title"}}
    for slug in ODD_NAMES:
        for method, path, json in [
            ("GET", f"/api/articles/{slug}", None),
            ("PUT", f"/api/articles/{slug}", body),
            ("DELETE", f"/api/articles/{slug}", None),
            ("GET", f"/api/articles/{slug}/comments", None),
            ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": "hi"}}),
            ("DELETE", f"/api/articles/{slug}/comments/1", None),
            ("POST", f"/api/articles/{slug}/favorite", None),
            ("DELETE", f"/api/articles/{slug}/favorite", None),
        ]:
            response = await client.open(path, method=method, headers=alice.headers, json=json)
            assert await error_of(response, 404) == {"article": ["not found"]}, (method, path)


async def test_nul_in_the_login_form_is_a_failed_login(client, users):
    await users.make(email="nul@example.com")
    response = await submit_login(client, "nul\x00@example.com", "whatever password")
    assert response.status_code == 401
    assert "Invalid email or password." in await response.get_data(as_text=True)

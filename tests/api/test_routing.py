"""What routing answers by itself: OPTIONS, odd slashes. JSON errors only, and no redirect whose
target a request header could choose."""

from __future__ import annotations

from tests.helpers import error_of


async def test_options_answers_the_allowed_methods_without_a_body(client):
    for path, methods in [
        ("/api/articles", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/api/articles/some-slug", {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
        ("/api/user", {"GET", "HEAD", "PUT", "OPTIONS"}),
    ]:
        response = await client.options(path)
        assert response.status_code == 204, path
        assert await response.get_data() == b""  # no Content-Type either: tests/serving
        assert {m.strip() for m in response.headers["Allow"].split(",")} == methods, path


async def test_options_on_an_unknown_path_is_the_json_404(client):
    assert await error_of(await client.options("/api/nothing"), 404) == {"path": ["not found"]}


async def test_doubled_slashes_are_not_redirected(client):
    for path in ("/api//articles", "/api/articles//feed", "/api//tags"):
        response = await client.get(path, headers={"Host": "evil.example"})
        assert await error_of(response, 404) == {"path": ["not found"]}, path
        assert "Location" not in response.headers


async def test_a_trailing_slash_reaches_the_route_without_a_redirect(client, users, articles):
    alice = await users.make()
    slug = (await articles.make(alice))["slug"]
    for path, key in [("/api/articles/", "articles"), (f"/api/articles/{slug}/", "article")]:
        response = await client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 200, path
        assert "Location" not in response.headers
        assert key in await response.get_json()

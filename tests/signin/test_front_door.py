"""`GET /`: a page for browsers, a JSON index for API clients (content negotiation on Accept),
and the favicon; the OpenAPI document describes the new pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from service.schemas.pages import service_index

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ICO_MAGIC = b"\x00\x00\x01\x00"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.inline = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if (
            tag in ("script", "style")
            or "style" in values
            or any(n.startswith("on") for n in values)
        ):
            self.inline += 1


async def test_browsers_get_a_page_with_links_that_work(client):
    response = await client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert "Accept" in response.headers["Vary"]
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = await response.get_data(as_text=True)
    assert "<title>Welcome · Conduit</title>" in html
    assert '<link rel="icon" href="/favicon.ico"' in html
    page = Links()
    page.feed(html)
    assert page.inline == 0  # nothing the CSP would block
    for path in ("/docs", "/signup", "/login", "/healthz", "/openapi.json"):
        assert path in page.hrefs, path
    for href in set(page.hrefs):
        assert re.match(r"/[^/]", href) or href == "/", href  # this origin only
        followed = await client.get(href, headers={"Accept": BROWSER_ACCEPT})
        assert followed.status_code == 200, href
    assert "Set-Cookie" not in response.headers  # the front door starts no session


@pytest.mark.parametrize(
    "accept",
    [
        None,  # no Accept header at all
        "*/*",  # curl's default
        "application/json",
        "text/html;q=0.5, application/json",
        "image/png",  # neither: the index, never a 406
    ],
)
async def test_api_clients_get_a_json_index(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = await client.get("/", headers=headers)
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    assert "Accept" in response.headers["Vary"]
    body = await response.get_json()
    assert body == service_index()
    assert body["links"]["docs"] == "/docs"
    assert body["links"]["signup"] == "/signup"
    assert body["links"]["health"] == "/healthz"


@pytest.mark.parametrize("accept", ["text/html", "text/html, application/json;q=0.9", "text/*"])
async def test_html_when_preferred(client, accept):
    response = await client.get("/", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"


async def test_every_link_of_the_index_is_a_route(client):
    links = service_index()["links"]
    assert isinstance(links, dict)
    for name, path in links.items():
        response = await client.options(path)
        assert response.status_code == 204, (name, path)  # a route: 404 otherwise


async def test_favicon_is_a_long_cached_icon(client):
    response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content_type == "image/x-icon"
    icon = await response.get_data()
    assert icon.startswith(ICO_MAGIC)
    assert 0 < len(icon) < 10_000
    cache = response.headers["Cache-Control"]
    assert "public" in cache
    assert "max-age=31536000" in cache
    assert (await client.get("/static/favicon.ico")).status_code == 200  # it lives in static


@pytest.mark.parametrize("path", ["/login", "/signup"])
async def test_pages_link_the_icon_and_the_front_door(client, path):
    html = await (await client.get(path)).get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in html
    assert '<a class="brand" href="/">' in html
    assert 'href="/signup"' in html
    assert 'href="/login"' in html


async def test_openapi_describes_the_front_door_and_the_new_pages(client):
    document = await (await client.get("/openapi.json")).get_json()
    paths = document["paths"]

    def media(path: str, method: str, code: str) -> set[str]:
        return set(paths[path][method]["responses"][code].get("content", {}))

    assert media("/", "get", "200") == {"application/json", "text/html"}
    index = paths["/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert [e["value"] for e in index["examples"].values()] == [service_index()]
    assert media("/favicon.ico", "get", "200") == {"image/x-icon"}
    assert media("/signup", "get", "200") == {"text/html"}
    signup = paths["/signup"]["post"]
    assert set(signup["responses"]) >= {"303", "403", "409", "422", "429", "503"}
    assert set(signup["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}
    assert {"Location", "Set-Cookie"} <= set(signup["responses"]["303"]["headers"])
    change = paths["/account/password"]["post"]
    assert set(change["responses"]) >= {"303", "401", "403", "422", "429", "503"}
    for code in ("401", "403", "422", "429"):
        assert media("/account/password", "post", code) == {"text/html"}
    for path, method in (("/signup", "post"), ("/account/password", "post")):
        for example in paths[path][method]["requestBody"]["content"].values():
            assert example["examples"], path

"""/docs is served whole from the service (no CDN), under a CSP without inline scripts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from service.routes.docs import ASSETS


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.inline_attributes = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "script":
            self._in_script = "src" not in values
        if tag == "style" or "style" in values or any(n.startswith("on") for n in values):
            self.inline_attributes += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def directives(policy: str) -> dict[str, set[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: set(values) for name, *values in parts}


async def test_docs_page_loads_only_local_files_under_its_csp(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == {"'none'"}
    assert csp["script-src"] == {"'self'"}  # no inline scripts, no eval, no other host
    assert csp["style-src"] == {"'self'"}
    assert csp["connect-src"] == {"'self'"}  # the document and "Try it out"
    assert csp["frame-ancestors"] == {"'none'"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    page = Page()
    page.feed(await response.get_data(as_text=True))
    assert page.inline_scripts == 0
    assert page.inline_attributes == 0
    assert page.urls
    for url in page.urls:
        assert re.match(r"/[^/]", url), url  # this origin only
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert "Content-Security-Policy" in asset.headers or url.startswith(
            ("/static/", "/openapi.json")
        ), url
    scripts = [url for url in page.urls if url.endswith(".js")]
    assert scripts == ["/docs/assets/swagger-ui-bundle.js", "/static/docs.js"]


async def test_docs_assets_come_from_the_package_and_nothing_else(client):
    for name in ASSETS:
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["Cache-Control"].startswith("public")
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in bundle.content_type
    assert len(await bundle.get_data()) > 500_000  # the real bundle, not a stub
    for name in ("index.html", "swagger-initializer.js", "../__init__.py", "%2e%2e%2fdocs.js"):
        missing = await client.get(f"/docs/assets/{name}")
        assert missing.status_code == 404, name


async def test_the_initializer_has_no_third_party_validator(client):
    script = await (await client.get("/static/docs.js")).get_data(as_text=True)
    assert "validatorUrl: null" in script
    assert not re.search(r"https?://", script)

"""/docs in a real browser with no network but the service: Chromium (Debian's), driven by
Playwright, against a live server. Every request to another host is refused and fails the
test, as does any CSP violation; every operation must render, with its examples."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import ConsoleMessage, Request, Route, async_playwright

from tests.live import ROOT, live_server
from tests.signin.test_browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = ROOT / "test-output" / "browser"
# README's picture: refreshed by hand from the test's screenshot when /docs changes.
README_PICTURE = ROOT / "docs" / "swagger.png"


async def test_docs_render_offline_under_the_csp(tmp_path, settings, app, client):
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat before the test
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    document = await (await client.get("/openapi.json")).get_json()
    operations = sum(
        method in {"get", "post", "put", "patch", "delete"}
        for item in document["paths"].values()
        for method in item
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    outside: list[str] = []
    problems: list[str] = []
    with live_server(tmp_path, env) as server:

        async def only_the_service(route: Route, request: Request) -> None:
            if request.url.startswith(server.url + "/"):
                await route.continue_()
            else:
                outside.append(request.url)
                await route.abort("internetdisconnected")

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(message.text)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                await context.route("**/*", only_the_service)
                page = await context.new_page()
                page.on("console", console)
                page.on("pageerror", lambda error: problems.append(str(error)))
                await page.goto(server.url + "/docs")
                await page.locator(".opblock").first.wait_for()
                assert await page.locator(".opblock").count() == operations
                await page.get_by_text("JSON in and out.").wait_for()  # the description
                # An operation opens on its summary, description, parameters and examples.
                register = page.locator("#operations-accounts-post_register")
                await register.locator(".opblock-summary").click()
                await register.get_by_text("Register an account.").first.wait_for()
                await register.get_by_text("jakejakejake").first.wait_for()
                await register.get_by_text("has already been taken").first.wait_for()
                await page.evaluate("window.scrollTo(0, 0)")
                await page.screenshot(path=SCREENSHOTS / "swagger.png")
            finally:
                await browser.close()
    assert not outside, outside
    assert not problems, problems
    assert README_PICTURE.exists(), f"copy {SCREENSHOTS / 'swagger.png'} to {README_PICTURE}"

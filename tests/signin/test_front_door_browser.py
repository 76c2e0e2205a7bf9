"""The front door to sign-out in a real browser (Debian's Chromium, driven by Playwright, against
a live hypercorn server): front door, sign up, account, change password, sign out everywhere,
with a session cookie copied before the password change tried afterwards. Fails (never skips)
when the browser is missing."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
)

from tests.conftest import empty_tables
from tests.live import ROOT, live_server
from tests.signin.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

# README's pictures: refreshed by hand from the test's screenshots when the pages change.
PICTURES = {name: ROOT / "docs" / name for name in ("front-door.png", "signup.png", "account.png")}
VIEWPORT = {"width": 900, "height": 700}
EXPECTED_4XX = "Failed to load resource: the server responded with a status of 4"
PASSWORD, NEW_PASSWORD = "first password 1", "second password 2"


async def signed_out(context: BrowserContext, url: str) -> bool:
    """Whether /account, opened with this context's cookies, sends the browser to sign in."""
    page = await context.new_page()
    await page.goto(url + "/account")
    gone = page.url == url + "/login?next=/account"
    await page.close()
    return gone


async def submit(page: Page, button: str, path: str) -> int:
    async with page.expect_response(lambda r: r.url.endswith(path)) as sent:
        await page.get_by_role("button", name=button, exact=True).click()
    return (await sent.value).status


async def test_front_door_to_sign_out_everywhere_in_chromium(tmp_path, settings, engine):
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat before the test
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    outside: list[str] = []
    problems: list[str] = []  # console errors: a CSP violation would show here
    try:
        with live_server(tmp_path, env) as server:
            url = server.url

            async def only_the_service(route: Route, request: Request) -> None:
                if request.url.startswith(url + "/"):
                    await route.continue_()
                else:
                    outside.append(request.url)
                    await route.abort("internetdisconnected")

            def console(message: ConsoleMessage) -> None:
                # The form answers 401 and 422 on purpose (checked below); anything else, such
                # as a resource the CSP refused, is a problem.
                if message.type == "error" and not message.text.startswith(EXPECTED_4XX):
                    problems.append(message.text)

            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    context = await browser.new_context(viewport=VIEWPORT)
                    await context.route("**/*", only_the_service)
                    page = await context.new_page()
                    page.on("console", console)
                    page.on("pageerror", lambda error: problems.append(str(error)))

                    # The front door: what this is, and the ways in.
                    response = await page.goto(url + "/")
                    assert response is not None
                    assert response.headers["content-type"].startswith("text/html")
                    assert await page.title() == "Welcome · Conduit"
                    main = page.get_by_role("main")
                    for name in ("API docs", "Sign up", "Sign in", "Health"):
                        await main.get_by_role("link", name=name, exact=True).wait_for()
                    await page.screenshot(path=SCREENSHOTS / "front-door.png")
                    icon = await page.request.get(url + "/favicon.ico")
                    assert icon.status == 200

                    # Sign up: a field error first, shown beside the field, then success.
                    await main.get_by_role("link", name="Sign up", exact=True).click()
                    await page.wait_for_url(url + "/signup")
                    assert await page.title() == "Sign up · Conduit"
                    await page.get_by_label("Username").fill("walker")
                    await page.get_by_label("Email").fill("walker@example.com")
                    await page.screenshot(path=SCREENSHOTS / "signup.png")
                    await page.get_by_label("Password").fill("short")
                    assert await submit(page, "Sign up", "/signup") == 422
                    await page.get_by_text(
                        "Password is too short (minimum is 8 characters)."
                    ).wait_for()
                    assert await page.get_by_label("Email").input_value() == "walker@example.com"
                    await page.get_by_label("Password").fill(PASSWORD)
                    await page.get_by_role("button", name="Sign up", exact=True).click()
                    await page.wait_for_url(url + "/account")
                    assert await page.locator("#username").inner_text() == "walker"
                    await page.screenshot(path=SCREENSHOTS / "account.png", full_page=True)

                    # A copy of the session cookie, as a thief would take it, before the change.
                    copied = await browser.new_context()
                    await copied.add_cookies(await context.cookies())
                    assert not await signed_out(copied, url)

                    # Change password: a wrong current one is refused, then the change.
                    await page.get_by_label("Current password").fill("not my password")
                    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
                    await page.get_by_label("New password again").fill(NEW_PASSWORD)
                    assert await submit(page, "Change password", "/account/password") == 401
                    await page.get_by_text("Current password is wrong.").wait_for()
                    await page.get_by_label("Current password").fill(PASSWORD)
                    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
                    await page.get_by_label("New password again").fill(NEW_PASSWORD)
                    await page.get_by_role("button", name="Change password").click()
                    await page.wait_for_url(url + "/account")
                    await (
                        page.get_by_role("status")
                        .filter(has_text="Your password was changed.")
                        .wait_for()
                    )
                    # This browser stays signed in; the copy from before the change does not.
                    await page.reload()
                    assert page.url == url + "/account"
                    assert await signed_out(copied, url)
                    await copied.close()

                    # Sign out everywhere: this session too, and any copy of it.
                    again = await browser.new_context()
                    await again.add_cookies(await context.cookies())
                    assert not await signed_out(again, url)
                    await page.get_by_role("button", name="Sign out everywhere").click()
                    await page.wait_for_url(url + "/login")
                    assert await signed_out(again, url)
                    assert await signed_out(context, url)
                    await again.close()

                    # Back in with the new password, from the front door's link.
                    await page.goto(url + "/")
                    await main.get_by_role("link", name="Sign in", exact=True).click()
                    await page.get_by_label("Email").fill("walker@example.com")
                    await page.get_by_label("Password").fill(NEW_PASSWORD)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_url(url + "/account")
                    # ... and the account page leads back to the front door.
                    await page.get_by_role("link", name="Back to the front door").click()
                    await page.wait_for_url(url + "/")
                finally:
                    await browser.close()
    finally:
        await empty_tables(engine)
    assert not outside, outside
    assert not problems, problems
    for name, picture in PICTURES.items():
        assert picture.exists(), f"copy {SCREENSHOTS / name} to {picture}"

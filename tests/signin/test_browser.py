"""The sign-in flow in a real browser: Debian's Chromium, driven by Playwright, against a live
hypercorn server. Fails (never skips) when the browser is missing: .ci/run installs it."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.conftest import empty_tables
from tests.factories import UserFactory
from tests.live import ROOT, free_port, live_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As the machine notes say: no sandbox as root, and no background traffic to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "browser"


def attacker_site(folder: Path, target: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Another origin with a page that posts a sign-out form to the service by itself."""
    page = folder / "attack.html"
    page.write_text(
        f'<form id="f" method="post" action="{target}/logout"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # "localhost" vs "127.0.0.1": a different site as well as a different origin.
    return server, f"http://localhost:{server.server_address[1]}/attack.html"


async def test_sign_in_flow_in_chromium(tmp_path, settings, engine, app):
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat before the test
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    user = await UserFactory(app).make(username="browser", email="browser@example.com")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    try:
        with live_server(tmp_path, env) as server:
            attacker, attack_url = attacker_site(evil_dir, server.url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    page = await browser.new_page(viewport={"width": 900, "height": 640})
                    await page.goto(server.url + "/login")
                    assert await page.title() == "Sign in · Conduit"
                    await page.screenshot(path=SCREENSHOTS / "login.png")

                    # Wrong password: the form again, one generic message, status 401.
                    await page.get_by_label("Email").fill(user.email)
                    await page.get_by_label("Password").fill("wrong password")
                    async with page.expect_response(lambda r: r.url.endswith("/login")) as sent:
                        await page.get_by_role("button", name="Sign in").click()
                    assert (await sent.value).status == 401
                    await (
                        page.get_by_role("alert")
                        .filter(has_text="Invalid email or password.")
                        .wait_for()
                    )

                    # Right password: lands on the account page, and a reload stays there.
                    await page.get_by_label("Password").fill(user.password)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_url(server.url + "/account")
                    assert await page.locator("#username").inner_text() == "browser"
                    assert await page.locator("#role").inner_text() == "user"
                    await page.screenshot(path=SCREENSHOTS / "account.png")
                    await page.reload()
                    assert page.url == server.url + "/account"

                    # The page's scripts could call the API with the cookie and the CSRF token.
                    api = await page.evaluate(
                        """async () => {
                            const csrf = document.querySelector('meta[name=csrf-token]').content;
                            const put = (headers) => fetch('/api/user', {method: 'PUT',
                                headers: {'Content-Type': 'application/json', ...headers},
                                body: JSON.stringify({user: {bio: 'set in the browser'}})});
                            const without = (await put({})).status;
                            const withToken = await put({'X-CSRF-Token': csrf});
                            return [without, withToken.status, (await withToken.json()).user.bio];
                        }"""
                    )
                    assert api == [403, 200, "set in the browser"]

                    # A forged cross-site POST (no CSRF token) does not sign us out.
                    async with page.expect_response(lambda r: r.url.endswith("/logout")) as forged:
                        await page.goto(attack_url)
                    assert (await forged.value).status == 403
                    await page.goto(server.url + "/account")
                    assert page.url == server.url + "/account"

                    # Signing out for real.
                    await page.get_by_role("button", name="Sign out", exact=True).click()
                    await page.wait_for_url(server.url + "/login")
                    await page.goto(server.url + "/account")
                    assert page.url == server.url + "/login?next=/account"
                finally:
                    await browser.close()
                    attacker.shutdown()
    finally:
        await empty_tables(engine)

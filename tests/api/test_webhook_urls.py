"""POST /api/webhooks with a URL that urllib cannot take apart, or a host name that IDNA
cannot encode: a 422 on `url`, as for any URL that may not be called, never a 500. Found by
the fuzz run (a broken IPv6 literal, a port out of range or not a number, a 70-letter label, an
empty label); port 0 would have been delivered to the scheme's default port."""

from __future__ import annotations

import pytest

from tests.helpers import error_of


@pytest.mark.parametrize(
    "url",
    [
        "http://[",
        "http://[::1/in",
        "https://hooks.example:99999/in",
        "https://hooks.example:x/in",
        "https://93.184.216.34:0/in",
        "https://" + "a" * 70 + ".example/in",
        "https://hooks..example/in",
    ],
)
async def test_a_url_that_cannot_be_called_is_refused_on_url(client, users, url):
    admin = await users.admin()
    response = await client.post(
        "/api/webhooks",
        json={"webhook": {"url": url, "events": ["article.published"]}},
        headers=admin.headers,
    )
    errors = await error_of(response, 422)
    assert list(errors) == ["url"], errors

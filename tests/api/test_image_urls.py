"""`image` is shown by browsers as an image source or link: only http(s) URLs, or empty."""

from __future__ import annotations

from tests.helpers import error_of

REFUSED = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/a.png",
    "/relative/a.png",
    "https:/one-slash.example/a.png",
    "http://",
    "https:// spaced.example/a.png",
    "https://img.example/a b.png",
    "https://img.example/\x07.png",
    "img.example/a.png",
]
ACCEPTED = [
    "https://img.example/a.png",
    "http://img.example:8080/a.png?size=2#top",
    "HTTPS://IMG.EXAMPLE/A.PNG",
    "https://[2001:db8::1]/a.png",
    "",
]


async def test_image_must_be_an_http_url_on_every_update(client, users):
    alice, admin = await users.make(), await users.admin()
    routes = [
        ("PUT", "/api/user", alice.headers),
        ("PATCH", f"/api/users/{alice.id}", alice.headers),
        ("POST", f"/api/users/{alice.id}", admin.headers),
    ]
    for method, path, headers in routes:
        for image in REFUSED:
            response = await client.open(
                path, method=method, headers=headers, json={"user": {"image": image}}
            )
            errors = await error_of(response, 422)
            assert errors == {"image": ["must be an http or https URL"]}, (path, image)
        for image in [*ACCEPTED, None]:
            response = await client.open(
                path, method=method, headers=headers, json={"user": {"image": image}}
            )
            assert response.status_code == 200, (path, image, await response.get_json())
            assert (await response.get_json())["user"]["image"] == image

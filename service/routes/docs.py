"""/docs: the OpenAPI document in Swagger UI, every file served from here (the assets of the
`swagger-ui-bundle-v2` package), so the page works offline and under a strict CSP: scripts
and styles from this origin only, no inline scripts."""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, abort, render_template, send_from_directory
from quart_schema import hide
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs", __name__)

ASSETS_DIR = Path(str(swagger_ui_path))
# The files the page uses; nothing else of the bundle (its demo index.html) is served.
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
ASSET_MAX_AGE = 24 * 3600

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@bp.get("/docs")
@hide
async def page() -> Response:
    html = await render_template("docs.html")
    return Response(
        html,
        content_type="text/html; charset=utf-8",
        headers={**HEADERS, "Cache-Control": "no-cache"},
    )


@bp.get("/docs/assets/<name>")
@hide
async def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    response = await send_from_directory(ASSETS_DIR, name, cache_timeout=ASSET_MAX_AGE)
    response.headers.update(HEADERS)
    return response

"""The front door: `GET /` answers a browser with a page saying what this service is and an API
client with a small JSON index (content negotiation on Accept), and `/favicon.ico`."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, render_template, request, send_from_directory
from quart_schema import document_response, tag

from service.jsonio import json_response
from service.routes.apidoc import HTML, Answer, answers, without_database
from service.routes.pages import PAGE_HEADERS
from service.routes.responses import check_body
from service.schemas.pages import ServiceIndex, service_index

bp = Blueprint("home", __name__)

FAVICON = "favicon.ico"
FAVICON_TYPE = "image/x-icon"
# A year: the icon changes rarely, and a stale one is only cosmetic.
FAVICON_MAX_AGE = 365 * 24 * 3600


def wants_html() -> bool:
    """HTML only when the client prefers text/html to application/json, as a browser's Accept
    does; `application/json`, `*/*` (curl's), no Accept at all, or anything else: JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


@bp.get("/")
@tag(["pages"])
@without_database
@document_response(ServiceIndex)
@answers(
    Answer(
        200,
        "What this service is, with links to the API docs, sign-in, sign-up and health: an "
        "HTML page when `Accept` prefers `text/html` (a browser), else this JSON index "
        "(`application/json`, `*/*`, no `Accept`). `Vary: Accept`.",
        HTML,
    )
)
async def front_door() -> Response:
    """The front door.

    Content negotiation on `Accept`: browsers get a page about the service, API clients
    (`application/json`, curl's `*/*`, or no `Accept` at all) a small JSON index of links.
    """
    if wants_html():
        html = await render_template("home.html")
        response = Response(html, content_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
    else:
        body = service_index()
        if current_app.config["VALIDATE_RESPONSES"]:
            check_body(ServiceIndex, body)
        response = json_response(body, 200)
    response.vary.add("Accept")
    return response


@bp.get("/favicon.ico")
@tag(["pages"])
@without_database
@answers(
    Answer(
        200,
        "The icon (ICO, 16, 32 and 48 pixels), `Cache-Control: public, max-age=31536000`.",
        FAVICON_TYPE,
        schema={"type": "string", "format": "binary"},
    )
)
async def favicon() -> Response:
    """The site's icon.

    A small ICO file from the static folder, cached for a year; the pages link it too.
    """
    folder = current_app.static_folder
    if folder is None:  # the app always has one (service/static)
        raise RuntimeError("no static folder")
    return await send_from_directory(
        folder,
        FAVICON,
        mimetype=FAVICON_TYPE,
        cache_timeout=FAVICON_MAX_AGE,
        conditional=False,
        add_etags=False,
    )

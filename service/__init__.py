"""The app factory: `create_app(config)` builds a fresh, fully wired app on each call."""

from __future__ import annotations

import gc

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, Response
from quart_cors import cors
from quart_schema import QuartSchema
from quart_schema.typing import PydanticDumpOptions

from service import db, metrics, observability, queue_web, read_routing, security
from service.admission import Admission
from service.config import Settings, load_config
from service.deadline import DeadlineQuart
from service.jsonio import OrjsonProvider
from service.routes import (
    admin,
    articles,
    comments,
    docs,
    home,
    ops,
    pages,
    profiles,
    tags,
    users,
    webhooks,
)
from service.routes import errors as error_handlers
from service.routes.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from service.routes.openapi import ServiceOpenAPIProvider
from service.routes.validation import ApiRequest, ArticleSlugConverter, IdConverter
from service.services.tags import TagCache


class ServiceQuart(DeadlineQuart):
    async def make_default_options_response(self) -> Response:
        """OPTIONS: 204 with `Allow` and no body (Quart's default is an empty text/html page).
        CORS preflights get their headers from quart-cors on top of it."""
        response = await super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(config: Settings | None = None) -> Quart:
    settings = config or load_config()
    observability.configure_logging(settings)

    app = ServiceQuart(__name__)
    # Routing never redirects: werkzeug would merge doubled slashes, add a trailing slash or
    # go to a rule's canonical URL with a 308 whose Location it builds from the Host header.
    # A doubled slash is a 404; a trailing slash matches the route as if it were not there.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.redirect_defaults = False
    app.request_class = ApiRequest
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["slug"] = ArticleSlugConverter
    app.config.update(
        SECRET_KEY=settings.secret_key.get_secret_value(),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        BODY_TIMEOUT=settings.body_timeout_seconds,  # Quart's: reading a body, 408 past it
        MAX_JSON_DEPTH=settings.max_json_depth,
        REQUEST_TIMEOUT_SECONDS=settings.request_timeout_seconds,
        VALIDATE_RESPONSES=settings.validate_responses,
        TESTING=settings.app_env == "testing",
        PROPAGATE_EXCEPTIONS=False,
    )
    app.extensions["settings"] = settings
    app.extensions["tag_cache"] = TagCache(settings.tags_cache_seconds)

    QuartSchema(
        app,
        info={"title": "Conduit service", "version": "1.0.0"},
        security_schemes=security.SECURITY_SCHEMES,
        pydantic_dump_options=PydanticDumpOptions(by_alias=True),
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,  # routes/docs.py serves it, assets included (no CDN)
        openapi_provider_class=ServiceOpenAPIProvider,
    )
    # After QuartSchema, which installs its own provider.
    app.json = OrjsonProvider(app)

    observability.init_app(app)
    metrics.init_app(app)
    database = db.init_app(app, settings)
    # As many requests inside as the pool has connections; the rest queue in arrival order.
    admission = Admission(settings.db_pool_size + settings.db_max_overflow)
    app.extensions["admission"] = admission
    # Hashing waits on threads, not the database: it gives its slot back meanwhile.
    sec = security.init_app(app, settings)
    sec.hasher.around = admission.stepped_out
    # GET and HEAD on the read replica, if there is one (sharing the limiters' Redis).
    read_routing.init_app(app, database, sec.counters, settings.read_your_writes_seconds)
    queue_web.init_app(app, settings)
    error_handlers.register(app)

    app.register_blueprint(ops.bp)
    for blueprint in (
        home.bp,
        pages.bp,
        docs.bp,
        users.bp,
        profiles.bp,
        articles.bp,
        comments.bp,
        tags.bp,
        webhooks.bp,
        admin.bp,
    ):
        app.register_blueprint(blueprint)

    @app.before_serving
    async def _freeze_startup_objects() -> None:
        # Modules, models and compiled schemas live as long as the process: moved out of the
        # collector's reach, full collections stop rescanning them (they showed as p99 spikes).
        gc.collect()
        gc.freeze()

    if settings.trusted_proxy_hops:
        # Client address and scheme from X-Forwarded-For/-Proto, set by that many proxies;
        # without trusted hops the headers are ignored, so nobody spoofs an address.
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app, mode="legacy", trusted_hops=settings.trusted_proxy_hops
        )

    # Outermost: it sees the peer's address and every request, whatever the app makes of it.
    app.asgi_app = observability.AccessLog(app.asgi_app)  # type: ignore[method-assign]

    if settings.cors_origins:
        app = cors(
            app,
            allow_origin=settings.cors_origins,
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "If-Match",
                "If-None-Match",
                IDEMPOTENCY_HEADER,
            ],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            expose_headers=["X-Request-ID", "Retry-After", "ETag", "Location", REPLAYED_HEADER],
            max_age=600,
        )
    return app

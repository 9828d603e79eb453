"""`create_app(settings)`: assembles the service; no I/O until the app starts."""

from __future__ import annotations

from aiohttp import web

from navixy_panel import health, keys, logs, observability, openapi
from navixy_panel.db.context import (
    caches_ctx,
    embedded_postgres_ctx,
    engine_ctx,
    housekeeping_ctx,
    migrations_ctx,
    secret_box_ctx,
)
from navixy_panel.middleware import Deadlines, deadlines_ctx, edge_middleware
from navixy_panel.navixy import dispatch
from navixy_panel.settings import Settings
from navixy_panel.webitel import auth as webitel_auth
from navixy_panel.webitel import settings_api


def create_app(settings: Settings) -> web.Application:
    # aiohttp's own size check is a backstop; the Navixy face refuses by
    # Content-Length before reading (code 9).
    logs.mask_library_logs()
    metrics = observability.Metrics()
    deadlines = Deadlines(settings.request_timeout_seconds)
    app = web.Application(middlewares=[edge_middleware(settings, metrics, deadlines)],
                          client_max_size=settings.max_body_bytes)
    app[keys.DEADLINES] = deadlines
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([embedded_postgres_ctx, migrations_ctx, engine_ctx, secret_box_ctx,
                            caches_ctx, deadlines_ctx, housekeeping_ctx])
    observability.install(app, metrics)
    app.router.add_routes(health.routes)
    app.router.add_routes(openapi.routes)
    dispatch.add_routes(app)
    app.router.add_post("/login", webitel_auth.login)
    app.router.add_post("/logout", webitel_auth.logout)
    app.add_subapp("/api/v2/", settings_api.create_subapp())
    return app

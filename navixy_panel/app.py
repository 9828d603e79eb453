"""`create_app(settings)`: assembles the service; no I/O until the app starts.

Where a URL is handled:
- `/v2/panel/<handler>/<action>` and `/panel/…`: `navixy/routes.py` dispatches to the
  action registered under that path (`navixy/account.py`,
  `navixy/gateways_email.py`, `navixy/notification.py`);
- `/login`, `/logout`, `/api/v2/email/settings…`: `webitel/routes.py`;
- `/health`, `/ready`: `http/probes.py`; `/metrics`: `http/observability.py`;
  `/openapi.json`: `openapi.py`; `/`, `/docs`, `/readme`: `docs_pages.py`.
SMTP submission (NAVIXY_PANEL_SUBMISSION_PORT): `submission/`, a resource of the app.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from navixy_panel import docs_pages, logs, openapi
from navixy_panel.delivery.metrics import DeliveryMetrics
from navixy_panel.delivery.runtime import delivery_ctx
from navixy_panel.http import keys, observability, probes
from navixy_panel.http.deadlines import Deadlines
from navixy_panel.http.edge import edge_middleware
from navixy_panel.mailapi import routes as mailapi_routes
from navixy_panel.navixy import routes as navixy_routes
from navixy_panel.navixy.actions import Action
from navixy_panel.resources import (
    context_ctx,
    embedded_postgres_ctx,
    engine_ctx,
    housekeeping_ctx,
    migrations_ctx,
    read_pool_ctx,
)
from navixy_panel.settings import Settings
from navixy_panel.submission.metrics import SubmissionMetrics
from navixy_panel.submission.runtime import submission_ctx
from navixy_panel.webitel import routes as webitel_routes


def create_app(settings: Settings,
               navixy_actions: Mapping[str, Action] = navixy_routes.ACTIONS) -> web.Application:
    """`navixy_actions`: the Navixy face's action table; tests give one with an action
    of their own (a failing or slow handler) instead of changing the service's."""
    logs.mask_library_logs()
    metrics = observability.Metrics()
    deadlines = Deadlines(settings.request_timeout_seconds)
    # aiohttp's own size check is a backstop; the faces refuse by Content-Length first.
    app = web.Application(middlewares=[edge_middleware(settings, metrics, deadlines)],
                          client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.DEADLINES] = deadlines
    app.cleanup_ctx.extend([embedded_postgres_ctx, migrations_ctx, engine_ctx, read_pool_ctx,
                            context_ctx,
                            deadlines.cleanup_ctx(), housekeeping_ctx])
    delivery_metrics = DeliveryMetrics()
    metrics.registry.register(delivery_metrics)
    app.cleanup_ctx.append(delivery_ctx(delivery_metrics))
    submission_metrics = SubmissionMetrics()
    metrics.registry.register(submission_metrics)
    app.cleanup_ctx.append(submission_ctx(submission_metrics))  # stops before delivery
    metrics.registry.register(observability.PoolCollector(lambda: app.get(keys.ENGINE)))
    app.router.add_get("/metrics", observability.metrics_handler(metrics))
    app.router.add_routes(probes.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(docs_pages.routes)
    navixy_routes.add_routes(app, navixy_actions)
    webitel_routes.add_routes(app)
    mailapi_routes.add_routes(app)
    return app

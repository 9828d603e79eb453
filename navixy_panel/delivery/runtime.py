"""The delivery workers as one resource of the service (`serve`, `deliver`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from navixy_panel import cache
from navixy_panel.delivery.metrics import DeliveryMetrics
from navixy_panel.delivery.workers import Deliverer
from navixy_panel.http import keys

DELIVERER = web.AppKey("deliverer", Deliverer)


def delivery_ctx(metrics: DeliveryMetrics
                 ) -> Callable[[web.Application], AsyncIterator[None]]:
    """Starts after the context exists and stops before it goes: lanes record what
    they sent and hand back the rest while the database is still there."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        if not settings.deliver:
            yield
            return
        context = app[keys.CONTEXT]
        deliverer = Deliverer(context, metrics,
                              listen_dsn=cache.asyncpg_dsn(app[keys.DIRECT_DATABASE_URL]))
        context.wake_delivery = deliverer.wake
        app[DELIVERER] = deliverer
        await deliverer.start()
        try:
            yield
        finally:
            await deliverer.stop()

    return ctx

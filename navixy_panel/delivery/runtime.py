"""The delivery workers as one resource of the service (`serve`, `deliver`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from navixy_panel import cache
from navixy_panel.delivery.metrics import DeliveryMetrics
from navixy_panel.delivery.notifier import Notifier
from navixy_panel.delivery.workers import Deliverer
from navixy_panel.http import keys

DELIVERER = web.AppKey("deliverer", Deliverer)


def delivery_ctx(metrics: DeliveryMetrics
                 ) -> Callable[[web.Application], AsyncIterator[None]]:
    """Starts after the context exists and stops before it goes: lanes record what
    they sent and hand back the rest while the database is still there."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        context = app[keys.CONTEXT]
        dsn = cache.asyncpg_dsn(app[keys.DIRECT_DATABASE_URL])
        deliverer = Deliverer(context, metrics, listen_dsn=dsn) if settings.deliver else None
        # Submissions on an instance that does not deliver still wake those that do.
        notifier = Notifier(dsn, deliverer.wake if deliverer is not None else lambda: None)
        context.wake_delivery = notifier.poke
        await notifier.start()
        if deliverer is not None:
            app[DELIVERER] = deliverer
            await deliverer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                await deliverer.stop()
            await notifier.stop()

    return ctx

"""Every typed key for state kept on the application (no string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from navixy_panel.cache import Caches
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.settings import Settings

if TYPE_CHECKING:
    from navixy_panel.middleware import Deadlines
    from navixy_panel.observability import Metrics

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
SECRET_BOX = web.AppKey("secret_box", SecretBox)
CACHES = web.AppKey("caches", Caches)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# The Navixy code a request ended with (0 for success), for metrics.
RESULT_CODE = web.RequestKey("result_code", int)
DEADLINES: web.AppKey[Deadlines] = web.AppKey("deadlines")

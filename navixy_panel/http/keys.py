"""Every typed key for state kept on the application (no string keys)."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from navixy_panel.db.pooling import Pooling
from navixy_panel.http.deadlines import Deadlines
from navixy_panel.http.observability import Metrics
from navixy_panel.settings import Settings
from navixy_panel.usecases.context import Context

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
# LISTEN and migrations: NAVIXY_PANEL_DATABASE_DIRECT_URL, else the same as DATABASE_URL.
DIRECT_DATABASE_URL = web.AppKey("direct_database_url", str)
POOLING = web.AppKey("pooling", Pooling)
ENGINE = web.AppKey("engine", AsyncEngine)
READ_POOL = web.AppKey("read_pool", asyncpg.Pool)
# What the use cases run with: settings, the session factory, the secret box, the caches.
CONTEXT = web.AppKey("context", Context)
METRICS = web.AppKey("metrics", Metrics)
DEADLINES = web.AppKey("deadlines", Deadlines)

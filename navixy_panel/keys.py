"""Every typed key for state kept on the application (no string keys)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from navixy_panel.cache import Caches
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
SECRET_BOX = web.AppKey("secret_box", SecretBox)
CACHES = web.AppKey("caches", Caches)

"""Probes for load balancers: /health (the process answers), /ready (the database does)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from navixy_panel.http import keys
from navixy_panel.http.plumbing import json_response

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(2):
            async with request.config_dict[keys.ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the reason is in the server's log
        return json_response({"status": "unavailable", "database": "unreachable"}, 503)
    return json_response({"status": "ok", "database": "ok"})

"""Probes for load balancers: /health (the process answers), /ready (the database does)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy import text

from navixy_panel.http import keys
from navixy_panel.http.openapi_parts import JSON, Builder, closed, media
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


def add_to_openapi(doc: Builder) -> None:
    """The probes' part of the OpenAPI document."""

    def answer(schema: dict[str, Any], description: str = "Success.",
               example: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"description": description, "content": {JSON: media(schema, example)}}

    ok = closed({"status": {"const": "ok"}})
    ready = closed({"status": {"enum": ["ok", "unavailable"]},
                    "database": {"enum": ["ok", "unreachable"]}})
    doc.spec.path(path="/health", operations={"get": {
        "tags": ["probes"], "operationId": "health", "summary": "The process answers.",
        "security": [], "responses": {"200": answer(ok, example={"status": "ok"})}}})
    doc.spec.path(path="/ready", operations={"get": {
        "tags": ["probes"], "operationId": "ready", "summary": "The database answers.",
        "security": [],
        "responses": {
            "200": answer(ready, example={"status": "ok", "database": "ok"}),
            "503": answer(ready, "The database does not answer.",
                          {"status": "unavailable", "database": "unreachable"})}}})

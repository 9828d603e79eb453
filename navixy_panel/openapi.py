"""OpenAPI 3.1 document for both faces, generated from the marshmallow schemas."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()

"""CORS for both faces: Navixy's admin panel and Webitel clients run in browsers
on other origins.

Hand-written (about 30 lines) rather than aiohttp-cors because that library
configures CORS per route, while our faces are catch-all routes and a
sub-application, and the policy here is one list of origins for everything.
Nothing is allowed unless listed in NAVIXY_PANEL_CORS_ORIGINS.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from navixy_panel import keys

ALLOWED_METHODS = "GET, POST, PUT, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Key, X-Access-Token"


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in request.config_dict[keys.SETTINGS].cors_origins
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            # No CORS headers: the browser refuses the real request.
            return web.Response(status=403, content_type="application/json",
                                text='{"error": "origin not allowed"}')
        response: web.StreamResponse = web.Response(status=204)
        response.headers.update({
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        })
    else:
        response = await handler(request)
    if allowed:
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    return response

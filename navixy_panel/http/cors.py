"""CORS for both faces: Navixy's admin panel and Webitel clients run in browsers
on other origins.

Hand-written (about 30 lines) rather than aiohttp-cors because that library
configures CORS per route, while our faces are catch-all routes and a
sub-application, and the policy here is one list of origins for everything.
Nothing is allowed unless listed in NAVIXY_PANEL_CORS_ORIGINS.
"""

from __future__ import annotations

from aiohttp import web

ALLOWED_METHODS = "GET, POST, PUT, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Key, X-Access-Token"


def preflight(request: web.Request, origins: tuple[str, ...]) -> web.Response | None:
    """The answer to a CORS preflight, or None when the request is not one."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    if request.headers.get("Origin") not in origins:
        # No CORS headers: the browser refuses the real request.
        return web.Response(status=403, content_type="application/json",
                            text='{"error": "origin not allowed"}')
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
    })


def allow(request: web.Request, response: web.StreamResponse, origins: tuple[str, ...]) -> None:
    """Lets a listed origin read the response (errors included: the panel reads status.code)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")

"""The one middleware: what every request passes through, and the one place
where failures become responses.

It is a single layer on purpose: each aiohttp middleware layer costs a
wrapper call on every request, and the list endpoint is hot. In order: the
request id, the CORS preflight, the time-out, error mapping, CORS headers and
metrics.

Domain errors (`ApiError`) become Navixy's envelope with the HTTP status of
Navixy's table; aiohttp's own HTTP errors become JSON too; anything else is
logged with its traceback and answered with code 6 and no detail, so no
internals (SQL, paths, secrets) ever reach a client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from navixy_panel import cors, keys, observability
from navixy_panel.db.faults import database_unavailable
from navixy_panel.errors import ApiError
from navixy_panel.navixy.dispatch import json_response
from navixy_panel.observability import Metrics
from navixy_panel.settings import Settings
from navixy_panel.webitel import errors as webitel_errors
from navixy_panel.webitel.errors import WebitelError

log = logging.getLogger(__name__)


def navixy_error(request: web.Request, error: ApiError) -> web.Response:
    request[keys.RESULT_CODE] = error.code
    return json_response(navixy_error_body(error), error.http_status)


def navixy_error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False,
                            "status": {"code": error.code, "description": error.description}}
    if error.errors:
        body["errors"] = [{"parameter": e.parameter, "error": e.error} for e in error.errors]
    return body


def edge_middleware(settings: Settings, metrics: Metrics) -> Middleware:
    origins, timeout = settings.cors_origins, settings.request_timeout_seconds

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = observability.assign_request_id(request)
        response = cors.preflight(request, origins) or await _answer(request, handler, timeout)
        cors.allow(request, response, origins)
        response.headers["X-Request-Id"] = request_id
        observability.observe(request, response, started, metrics)
        return response

    return edge


async def _answer(request: web.Request, handler: Handler,
                  timeout: float) -> web.StreamResponse:
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await handler(request)
    except TimeoutError:
        if not deadline.expired():  # a connect time-out inside: the database is away
            return _unavailable(request)
        log.error("%s %s ran past the request time-out", request.method, request.path)
        error = ApiError(6, "Unexpected error: the request took too long")
        if is_webitel(request):
            return webitel_errors.error_response(WebitelError(500, error.description))
        return navixy_error(request, error)
    except ApiError as error:
        return navixy_error(request, error)
    except web.HTTPRequestEntityTooLarge:
        error = ApiError(9)
        return navixy_error(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        description = "Not found" if exc.status == 404 else exc.reason
        return json_response({"success": False,
                              "status": {"code": exc.status, "description": description}},
                             exc.status)
    except Exception as exc:
        if database_unavailable(exc):
            return _unavailable(request)
        log.exception("unexpected error in %s %s", request.method, request.path)
        error = ApiError(6)
        return navixy_error(request, error)


def _unavailable(request: web.Request) -> web.Response:
    log.error("database unavailable during %s %s", request.method, request.path)
    if is_webitel(request):
        return webitel_errors.error_response(WebitelError(503, "Database unavailable"))
    error = ApiError(14)
    return navixy_error(request, error)


def is_webitel(request: web.Request) -> bool:
    return request.path.startswith("/api/v2/") or request.path in ("/login", "/logout")

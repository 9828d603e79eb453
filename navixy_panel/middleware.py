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
import contextlib
import logging
import time
from collections.abc import AsyncIterator
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


class Deadlines:
    """Request time-outs with one checker task instead of a timer per request
    (asyncio.timeout cost ~7% of the list path's CPU in a profile). The checker
    wakes a few times per time-out period, so a late request is cut within
    about a quarter of the time-out (at most a second) after its deadline."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()

    async def watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.seconds / 4))
            now = loop.time()
            for task, deadline in list(self.running.items()):
                if deadline <= now and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()


async def deadlines_ctx(app: web.Application) -> AsyncIterator[None]:
    watcher = asyncio.create_task(app[keys.DEADLINES].watch())
    yield
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


def edge_middleware(settings: Settings, metrics: Metrics, deadlines: Deadlines) -> Middleware:
    origins = settings.cors_origins

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = observability.assign_request_id(request)
        response = cors.preflight(request, origins) or await _answer(request, handler,
                                                                     deadlines)
        cors.allow(request, response, origins)
        response.headers["X-Request-Id"] = request_id
        observability.observe(request, response, started, metrics)
        return response

    return edge


async def _answer(request: web.Request, handler: Handler,
                  deadlines: Deadlines) -> web.StreamResponse:
    task = asyncio.current_task()
    assert task is not None
    deadlines.running[task] = asyncio.get_running_loop().time() + deadlines.seconds
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if task not in deadlines.expired:
            raise
        deadlines.expired.discard(task)
        task.uncancel()
        log.error("%s %s ran past the request time-out", request.method, request.path)
        return _render(request, ApiError(6, "Unexpected error: the request took too long"))
    except TimeoutError:  # a connect time-out inside: the database is away
        return _unavailable(request)
    except ApiError as error:
        return _render(request, error)
    except web.HTTPRequestEntityTooLarge:
        return _render(request, ApiError(9))
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
        return _render(request, ApiError(6))
    finally:
        deadlines.running.pop(task, None)


def _unavailable(request: web.Request) -> web.Response:
    log.error("database unavailable during %s %s", request.method, request.path)
    return _render(request, ApiError(14))


def _render(request: web.Request, error: ApiError) -> web.Response:
    """A failure in the shape of the face the request was for."""
    if is_webitel(request):
        return webitel_errors.error_response(webitel_errors.translate(error))
    return navixy_error(request, error)


def is_webitel(request: web.Request) -> bool:
    return request.path.startswith("/api/v2/") or request.path in ("/login", "/logout")

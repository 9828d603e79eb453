"""The one middleware: what every request passes through, and the one place
where failures become responses.

A single layer on purpose: each aiohttp middleware layer costs a wrapper call
on every request, and the list endpoint is hot. In order: the request id, the
CORS preflight, the time-out, error rendering, CORS headers and metrics.

Failures are rendered by the face the routing tagged the request with (see
`plumbing.FACE`); requests no face claimed get a plain JSON error. Anything
unexpected is logged with its traceback and rendered as `Unexpected`, which
every face answers without detail, so no internals reach a client.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from marshmallow import ValidationError

from navixy_panel.db.faults import database_unavailable
from navixy_panel.domain.errors import DomainError, Unavailable
from navixy_panel.http import cors, observability
from navixy_panel.http.deadlines import Deadlines
from navixy_panel.http.observability import Metrics
from navixy_panel.http.plumbing import (
    FACE,
    BodyError,
    TimedOut,
    Unexpected,
    WireError,
    json_response,
)
from navixy_panel.settings import Settings

log = logging.getLogger(__name__)

# Refusals the faces render as they are (HTTP errors are handled just before).
_EXPECTED = (DomainError, WireError, BodyError, ValidationError)


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
    task = request.task  # the handler's task (asyncio.current_task() cost ~3% of the list)
    deadlines.running[task] = deadlines.clock() + deadlines.seconds
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if task not in deadlines.expired:
            raise
        deadlines.expired.discard(task)
        task.uncancel()
        log.error("%s %s ran past the request time-out", request.method, request.path)
        return _render(request, TimedOut())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _render(request, exc)
    except _EXPECTED as error:
        return _render(request, error)
    except Exception as exc:
        if database_unavailable(exc):
            log.error("database unavailable during %s %s (%s)", request.method, request.path,
                      type(exc).__name__)
            return _render(request, Unavailable())
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _render(request, Unexpected())
    finally:
        deadlines.running.pop(task, None)


def _render(request: web.Request, error: BaseException) -> web.Response:
    face = request.get(FACE)
    if face is not None:
        return face.error_response(request, error)
    if isinstance(error, web.HTTPException):
        status = error.status
        description = "Not found" if status == 404 else error.reason
    elif isinstance(error, Unavailable):
        status, description = 503, "Database unavailable"
    else:
        status, description = 500, "Unexpected error"
    return json_response({"success": False,
                          "status": {"code": status, "description": description}}, status)

"""The one place where failures become responses.

Domain errors (`ApiError`) become Navixy's envelope with the HTTP status of
Navixy's table; aiohttp's own HTTP errors become JSON too; anything else is
logged with its traceback and answered with code 6 and no detail, so no
internals (SQL, paths, secrets) ever reach a client.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import DBAPIError, InterfaceError

from navixy_panel.errors import ApiError
from navixy_panel.navixy.dispatch import json_response

log = logging.getLogger(__name__)


def navixy_error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False,
                            "status": {"code": error.code, "description": error.description}}
    if error.errors:
        body["errors"] = [{"parameter": e.parameter, "error": e.error} for e in error.errors]
    return body


def _database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return json_response(navixy_error_body(error), error.http_status)
    except web.HTTPRequestEntityTooLarge:
        error = ApiError(9)
        return json_response(navixy_error_body(error), error.http_status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        description = "Not found" if exc.status == 404 else exc.reason
        return json_response({"success": False,
                              "status": {"code": exc.status, "description": description}},
                             exc.status)
    except Exception as exc:
        if _database_unavailable(exc):
            log.error("database unavailable: %s", type(exc).__name__)
            error = ApiError(14)
        else:
            log.exception("unexpected error in %s %s", request.method, request.path)
            error = ApiError(6)
        return json_response(navixy_error_body(error), error.http_status)

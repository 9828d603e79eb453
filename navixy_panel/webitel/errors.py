"""Webitel's error shape, `{"status": "error", "info": "…"}` with the HTTP status.

Services raise Navixy-coded `ApiError`s; this is where they are translated for
Webitel clients (by this face's handlers, and by the edge middleware for
failures that reach it) (201 → 404, 7 → 400, 261 → 409, 209 → 502 with the SMTP reply
code in `code`, …). Nothing internal ever reaches `info`.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from marshmallow import ValidationError

from navixy_panel.errors import ApiError
from navixy_panel.navixy.validation import to_api_error


class WebitelError(Exception):
    def __init__(self, status: int, info: str, code: Any = None) -> None:
        super().__init__(info)
        self.status, self.info, self.code = status, info, code


def respond(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: WebitelError) -> web.Response:
    body: dict[str, Any] = {"status": "error", "info": error.info}
    if error.code is not None:
        body["code"] = error.code
    return respond(body, error.status)


def invalid(exc: ValidationError) -> WebitelError:
    return translate(to_api_error(exc))


_FROM_NAVIXY = {
    3: (401, "Invalid token"), 4: (401, "Invalid User"), 9: (413, "Request too large."),
    11: (403, "Access denied"),
    12: (401, "Invalid credentials"), 13: (403, "Permission denied!"),
    14: (503, "Database unavailable"), 15: (429, "Too many requests"),
    201: (404, "Not found."), 261: (409, "Conflict: sub-dealers are bound to this gateway"),
}


def translate(error: ApiError) -> WebitelError:
    if error.code == 7:
        info = "; ".join(f"{e.parameter}: {e.error}" for e in error.errors) or "Bad parameters."
        return WebitelError(400, info)
    if error.code == 209:
        return WebitelError(502, error.description, error.smtp_code)
    if error.code in (5, 6):
        return WebitelError(400 if error.code == 5 else 500, error.description)
    status, info = _FROM_NAVIXY.get(error.code, (500, "Internal server error"))
    return WebitelError(status, info)


async def handle_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WebitelError as error:
        return error_response(error)
    except ApiError as error:
        return error_response(translate(error))
    except ValidationError as exc:
        return error_response(invalid(exc))
    except web.HTTPRequestEntityTooLarge:
        return error_response(WebitelError(413, "Request too large."))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return error_response(WebitelError(404, f"{request.path} not found."))
        return error_response(WebitelError(exc.status, exc.reason))
    # Anything else (database away, a bug, the time-out) is the edge middleware's
    # to log and answer, in this face's shape.


@web.middleware
async def webitel_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await handle_errors(request, handler)

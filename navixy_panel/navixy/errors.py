"""The Navixy face's wire format for failures: Navixy's codes, HTTP statuses and
parameter paths, in one table.

Domain errors name fields in the domain's words; here they get the parameter
path a Navixy client sent (`gateway.params.mail.smtp.port`, `gateway.label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.domain import errors as domain
from navixy_panel.domain.smtp_params import EXTENSION_KEYS, KEY_ORDER
from navixy_panel.http.plumbing import (
    RESULT_CODE,
    BodyError,
    TimedOut,
    WireError,
    flatten,
    json_response,
)

# What a body may be, named in code 5's description so a client learns the fix.
ACCEPTED_BODIES = ("accepted bodies: application/json (an object), "
                   "application/x-www-form-urlencoded, multipart/form-data")

# code: (description, HTTP status) from Navixy's general error table. Navixy's words
# come first; codes 3 and 5 then say what to send instead, since a newcomer's first
# call most often fails on where the hash goes or on the body's type.
ERROR_TABLE: dict[int, tuple[str, int]] = {
    1: ("Database error", 500),
    3: ("Wrong hash: send the session hash from account/auth as the hash parameter "
        "or in the header Authorization: NVX <hash>", 400),
    4: ("User or API key not found or session ended", 400),
    5: (f"Wrong request format; {ACCEPTED_BODIES}", 400),
    6: ("Unexpected error", 500),
    7: ("Invalid parameters", 400),
    9: ("Too large request", 412),
    11: ("Access denied", 403),
    12: ("Dealer not found", 400),
    13: ("Operation not permitted", 403),
    14: ("Database unavailable", 503),
    15: ("Too many requests (rate limit exceeded)", 429),
    111: ("Wrong handler", 400),
    112: ("Wrong method", 400),
    201: ("Not found in database", 400),
    209: ("Failed sending email", 400),
    261: ("Entity has external links", 403),
}

# Domain error → Navixy code; the description is the table's unless composed below.
CODES: dict[type[domain.DomainError], int] = {
    domain.NotFound: 201,
    domain.InUse: 261,
    domain.InvalidInput: 7,
    domain.AlreadyExists: 7,
    domain.RateLimited: 15,
    domain.NotPermitted: 13,
    domain.BadCredentials: 12,
    domain.Blocked: 11,
    domain.SessionEnded: 4,
    domain.SendFailed: 209,
    domain.Unavailable: 14,
}

# Domain field → the parameter a Navixy client sent.
_GATEWAY_FIELDS = {"label", "provider", "leasable", "id"}


def parameter(field: str) -> str:
    if field in KEY_ORDER or field in EXTENSION_KEYS:
        return f"gateway.params.{field}"
    if field in _GATEWAY_FIELDS:
        return f"gateway.{field}"
    return field


class NavixyError(WireError):
    """A refusal in Navixy's terms, raised by this face itself (bad hash, unknown action)."""

    def __init__(self, code: int, description: str | None = None,
                 errors: Sequence[tuple[str, str]] = ()) -> None:
        self.code = code
        self.description = description or ERROR_TABLE[code][0]
        self.errors = tuple(errors)
        super().__init__(self.description)

    @property
    def http_status(self) -> int:
        return ERROR_TABLE.get(self.code, ("", 400))[1]


def from_validation(exc: ValidationError) -> NavixyError:
    return NavixyError(7, errors=flatten(exc.messages))


def translate(error: BaseException) -> NavixyError:
    if isinstance(error, NavixyError):
        return error
    if isinstance(error, domain.DomainError):
        return _from_domain(error)
    if isinstance(error, ValidationError):
        return from_validation(error)
    if isinstance(error, BodyError):
        if error.too_large:
            return NavixyError(9)
        detail = f": {error.detail}" if error.detail else ""
        return NavixyError(5, f"Wrong request format{detail}; {ACCEPTED_BODIES}")
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return NavixyError(9)
    if isinstance(error, TimedOut):
        return NavixyError(6, "Unexpected error: the request took too long")
    return NavixyError(6)


def _from_domain(error: domain.DomainError) -> NavixyError:
    code = next((c for kind, c in CODES.items() if isinstance(error, kind)), 6)
    if isinstance(error, domain.InvalidInput):
        return NavixyError(7, errors=sorted((parameter(f), m) for f, m in error.errors.items()))
    if isinstance(error, domain.AlreadyExists):
        return NavixyError(7, f"Invalid parameters: {error.message}")
    if isinstance(error, domain.SendFailed):
        return NavixyError(209, f"Failed sending email: {error.message}")
    if isinstance(error, domain.InUse):
        return NavixyError(261, f"Entity has external links: {error.message}")
    return NavixyError(code)


def body(error: NavixyError) -> dict[str, Any]:
    answer: dict[str, Any] = {"success": False,
                              "status": {"code": error.code, "description": error.description}}
    if error.errors:
        listed = error.errors[:domain.MAX_LISTED_ERRORS]
        answer["errors"] = [{"parameter": p, "error": e} for p, e in listed]
        if rest := len(error.errors) - len(listed):
            answer["errors"].append({"parameter": "params",
                                     "error": f"{rest} more invalid parameters not listed."})
    return answer


class NavixyFace:
    name = "navixy"

    def error_response(self, request: web.Request, error: BaseException) -> web.Response:
        if isinstance(error, web.HTTPException) and error.status == 404:
            return json_response({"success": False,
                                  "status": {"code": 404, "description": "Not found"}}, 404)
        wire = translate(error)
        request[RESULT_CODE] = wire.code
        return json_response(body(wire), wire.http_status)


FACE = NavixyFace()

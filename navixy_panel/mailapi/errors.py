"""The submission API's error answers, in one table:
`{"error": {"code": "…", "message": "…", "field": "…"}}` with the HTTP status."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.domain import errors as domain
from navixy_panel.http import keys
from navixy_panel.http.plumbing import (
    RESULT_CODE,
    BodyError,
    TimedOut,
    WireError,
    flatten,
    json_response,
)

# (status, code, message); the message of a DomainError is used when this one is None.
STATUSES: dict[type[domain.DomainError], tuple[int, str, str | None]] = {
    domain.BadCredentials: (401, "unauthorized", "A valid submission key is required "
                            "(Authorization: Bearer <key>)."),
    domain.OutsideSubtree: (403, "forbidden", "The key may not submit for this dealer."),
    domain.NotFound: (404, "not_found", "No such message."),
    domain.TooLarge: (413, "too_large", None),
    domain.QuotaExceeded: (429, "quota_exceeded", "The dealer's queue is full: wait for "
                           "messages to be sent."),
    domain.RateLimited: (429, "rate_limited", "Too many submissions with this key: slow "
                         "down."),
    domain.Unavailable: (503, "unavailable", "The database cannot take the message now: "
                         "retry later."),
}


class MailApiError(WireError):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def invalid(field: str, message: str) -> MailApiError:
    return MailApiError(400, "invalid", message, field)


def translate(error: BaseException, max_bytes: int) -> MailApiError:
    if isinstance(error, MailApiError):
        return error
    if isinstance(error, domain.InvalidInput):
        field, message = sorted(error.errors.items())[0]
        return invalid(field, message)
    if isinstance(error, ValidationError):
        field, message = flatten(error.messages)[0]
        return invalid(field, message)
    if isinstance(error, domain.TooLarge) or (isinstance(error, BodyError) and error.too_large):
        return MailApiError(413, "too_large",
                            f"The message is larger than {max_bytes} bytes (decoded).")
    if isinstance(error, BodyError):
        return MailApiError(400, "invalid", error.detail or "The body must be a JSON object.")
    if isinstance(error, domain.DomainError):
        status, code, text = next(
            (value for kind, value in STATUSES.items() if isinstance(error, kind)),
            (500, "internal", "Unexpected error."))
        return MailApiError(status, code, text or error.message)
    if isinstance(error, web.HTTPException):
        if error.status == 404:
            return MailApiError(404, "not_found", "No such resource.")
        if error.status == 405:
            return MailApiError(405, "method_not_allowed", "Method not allowed.")
        return MailApiError(error.status, "http_error", error.reason)
    if isinstance(error, TimedOut):
        return MailApiError(503, "timeout", "The request took too long: retry later.")
    return MailApiError(500, "internal", "Unexpected error.")


class MailApiFace:
    name = "mail"

    def error_response(self, request: web.Request, error: BaseException) -> web.Response:
        wire = translate(error, request.app[keys.SETTINGS].message_max_bytes)
        request[RESULT_CODE] = wire.status
        body: dict[str, Any] = {"code": wire.code, "message": wire.message}
        if wire.field is not None:
            body["field"] = wire.field
        response = json_response({"error": body}, wire.status)
        if wire.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="navixy-panel"'
        return response


FACE = MailApiFace()

"""The Webitel face's wire format for failures, `{"status": "error", "info": "…"}`
with the HTTP status, in one table; field names are Webitel's (`options.port`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.domain import errors as domain
from navixy_panel.domain.smtp_params import (
    AUTH,
    DEBUG,
    FROM,
    HOST,
    PASSWORD,
    PORT,
    SSL_PORT,
    STARTTLS,
    TRUST_ALL,
    USE_SSL,
    USER,
)
from navixy_panel.http.plumbing import (
    RESULT_CODE,
    BodyError,
    TimedOut,
    WireError,
    flatten,
    json_response,
)

# Domain error → (HTTP status, info).
STATUSES: dict[type[domain.DomainError], tuple[int, str]] = {
    domain.NotFound: (404, "Not found."),
    domain.InUse: (409, "Conflict: sub-dealers are bound to this gateway"),
    domain.RateLimited: (429, "Too many requests"),
    domain.NotPermitted: (403, "Permission denied!"),
    domain.BadCredentials: (401, "Invalid credentials"),
    domain.Blocked: (403, "Access denied"),
    domain.SessionEnded: (401, "Invalid User"),
    domain.Unavailable: (503, "Database unavailable"),
    domain.DomainRequired: (400, "Bad request (domain required)."),
}

# Domain field → the field a Webitel client wrote.
FIELDS = {HOST: "options.host", PORT: "options.port", SSL_PORT: "options.port",
          USE_SSL: "options.secure", DEBUG: "options.debug", STARTTLS: "options.secure",
          TRUST_ALL: "options.tls.rejectUnauthorized", AUTH: "options.auth",
          FROM: "from", USER: "options.auth.user", PASSWORD: "options.auth.pass",
          "label": "description", "gateway_id": "_id", "email_from": "from"}

# A route may say what "none" means for it (Webitel's engine words it per operation);
# `{subject}` is replaced by what was looked for.
NOT_FOUND_INFO = web.RequestKey("webitel_not_found_info", str)


class WebitelError(WireError):
    """A refusal in Webitel's terms, raised by this face itself (tokens, bodies)."""

    def __init__(self, status: int, info: str, code: Any = None) -> None:
        super().__init__(info)
        self.status, self.info, self.code = status, info, code


def invalid_fields(errors: list[tuple[str, str]]) -> WebitelError:
    listed = errors[:domain.MAX_LISTED_ERRORS]
    info = "; ".join(f"{FIELDS.get(field, field)}: {error}" for field, error in listed)
    if rest := len(errors) - len(listed):
        info += f"; {rest} more invalid fields not listed."
    return WebitelError(400, info or "Bad parameters.")


def translate(request: web.Request, error: BaseException) -> WebitelError:
    if isinstance(error, WebitelError):
        return error
    if isinstance(error, domain.DomainError):
        return _from_domain(request, error)
    if isinstance(error, ValidationError):
        return invalid_fields(flatten(error.messages))
    if isinstance(error, BodyError | web.HTTPRequestEntityTooLarge):
        if isinstance(error, web.HTTPRequestEntityTooLarge) or error.too_large:
            return WebitelError(413, "Request too large.")
        return WebitelError(400, f"Wrong request format: {error.detail or 'malformed body'}")
    if isinstance(error, web.HTTPException):
        if error.status == 404:
            return WebitelError(404, f"{request.path} not found.")
        return WebitelError(error.status, error.reason)
    if isinstance(error, TimedOut):
        return WebitelError(500, "Unexpected error: the request took too long")
    return WebitelError(500, "Unexpected error")


def _from_domain(request: web.Request, error: domain.DomainError) -> WebitelError:
    if isinstance(error, domain.DomainRequired):
        return WebitelError(*STATUSES[domain.DomainRequired])
    if isinstance(error, domain.InvalidInput):
        return invalid_fields(sorted(error.errors.items()))
    if isinstance(error, domain.AlreadyExists):
        return WebitelError(400, error.message)
    if isinstance(error, domain.SendFailed):
        return WebitelError(502, f"Failed sending email: {error.message}", error.smtp_code)
    if isinstance(error, domain.NotFound) and NOT_FOUND_INFO in request:
        return WebitelError(404, request[NOT_FOUND_INFO].format(subject=error.subject))
    status, info = next((v for kind, v in STATUSES.items() if isinstance(error, kind)),
                        (500, "Unexpected error"))
    return WebitelError(status, info)


class WebitelFace:
    name = "webitel"

    def error_response(self, request: web.Request, error: BaseException) -> web.Response:
        wire = translate(request, error)
        request[RESULT_CODE] = wire.status
        body: dict[str, Any] = {"status": "error", "info": wire.info}
        if wire.code is not None:
            body["code"] = wire.code
        return json_response(body, wire.status)


FACE = WebitelFace()

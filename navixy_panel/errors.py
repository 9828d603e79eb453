"""Navixy's error codes, their descriptions and HTTP statuses, and the domain
errors services raise. Services speak in these codes; only the faces decide
how a code looks on the wire (Navixy envelope, Webitel `{status, info}`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# code: (description, HTTP status) from Navixy's general error table.
ERROR_TABLE: dict[int, tuple[str, int]] = {
    1: ("Database error", 500),
    3: ("Wrong hash", 400),
    4: ("User or API key not found or session ended", 400),
    5: ("Wrong request format", 400),
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


@dataclass(frozen=True, slots=True)
class ParamError:
    parameter: str
    error: str


class ApiError(Exception):
    """A refusal with a Navixy code; `description` is safe to show to anyone."""

    def __init__(self, code: int, description: str | None = None,
                 errors: Sequence[ParamError] = (), *, smtp_code: int | None = None) -> None:
        self.code = code
        self.description = description or ERROR_TABLE[code][0]
        self.errors = tuple(errors)
        # The SMTP reply code of a failed send, for faces that expose it (Webitel `code`).
        self.smtp_code = smtp_code
        super().__init__(self.description)

    @property
    def http_status(self) -> int:
        return ERROR_TABLE.get(self.code, ("", 400))[1]


def invalid(parameter: str, error: str) -> ApiError:
    """Code 7 naming one parameter."""
    return ApiError(7, errors=[ParamError(parameter, error)])


def not_found() -> ApiError:
    """Code 201; also the answer for ids the dealer may not see, so it reveals nothing."""
    return ApiError(201)

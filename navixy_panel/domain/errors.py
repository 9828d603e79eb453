"""Refusals the domain can give, with no wire format in them.

Services and use cases raise these; each face maps them to its own envelope in
one table (`navixy/errors.py`, `webitel/errors.py`). Field names are the
domain's: a gateway's `label`, `provider` and `leasable`, its SMTP params by
their JavaMail keys (`mail.smtp.port`), `gateway_id`, `email_from`, `to`.
Messages are plain English a face may show as they are; they never carry a
secret, an SQL fragment or a path.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class DomainError(Exception):
    """A refusal the caller may be told about."""

    message = "refused"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class NotFound(DomainError):
    """Also the answer for what the caller may not see, so nothing reveals that it exists.
    `subject` names what was looked for, when the caller may know it (a domain)."""

    message = "not found"

    def __init__(self, message: str | None = None, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class InUse(DomainError):
    """A change that would strand sub-dealers bound to a gateway."""

    message = "sub-dealers are bound to this gateway"


# A refusal names this many fields at most, then counts the rest (every face and the
# command line): 60,000 unknown `params` keys made a 3.8 MB answer, and no client
# shows more than a few.
MAX_LISTED_ERRORS = 20


class InvalidInput(DomainError):
    """One message per offending field, by the domain's field names."""

    message = "invalid input"

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__()
        self.errors = dict(errors)

    @classmethod
    def of(cls, field: str, error: str) -> InvalidInput:
        return cls({field: error})


class PasswordRequired(InvalidInput):
    """A stored SMTP password is never sent to a destination it was not entered for."""

    def __init__(self) -> None:
        super().__init__({"mail.smtp.password": "Enter the password again: the server, "
                                                "ports, TLS settings or user changed."})


class DomainRequired(InvalidInput):
    """A per-domain action with no domain given and none of the caller's own."""

    def __init__(self) -> None:
        super().__init__({"domain": "A domain is required."})


class AlreadyExists(DomainError):
    """A unique value (a login, a domain) that another record holds."""


class RateLimited(DomainError):
    message = "too many requests"


class NotPermitted(DomainError):
    message = "operation not permitted"


class BadCredentials(DomainError):
    """Wrong login or password: one answer for both."""

    message = "wrong login or password"


class Blocked(DomainError):
    """The password was right, but the dealer may not log in."""

    message = "access denied"


class SessionEnded(DomainError):
    """Unknown, expired or ended session."""

    message = "session not found or ended"


class Unavailable(DomainError):
    """The database cannot be reached or no connection freed up in time: retry later."""

    message = "database unavailable"


class SendFailure(enum.Enum):
    """What kind of failure a send met; all a sub-dealer learns about its parent's relay."""

    DESTINATION_REFUSED = "the destination is not allowed"
    CONNECTION = "the server could not be reached"
    TIMEOUT = "the server did not answer in time"
    TLS = "the TLS connection failed"
    NOT_SMTP = "the peer is not an SMTP server"
    STARTTLS_UNAVAILABLE = ("the server does not offer STARTTLS, which "
                            "mail.smtp.starttls.required demands")
    AUTH_UNSUPPORTED = "the server offers no supported AUTH mechanism (CRAM-MD5, PLAIN, LOGIN)"
    AUTH_REFUSED = "the server refused the login"
    OAUTH = "the OAuth token could not be obtained"
    REJECTED = "the server refused the message"


class SendFailed(DomainError):
    """A message that did not go out. The full `message` may name the server and
    quote its reply, so only `redacted()` reaches a dealer using its parent's relay.
    `stage` is the step of the SMTP session that failed (`connect`, `tls`, `ehlo`,
    `token`, `auth`, `rset`, `mail_from`, `rcpt_to`, `data`), when one is known: a
    delivery attempt records it."""

    def __init__(self, kind: SendFailure, *, smtp_code: int | None = None,
                 message: str | None = None, stage: str | None = None) -> None:
        self.kind, self.smtp_code, self.stage = kind, smtp_code, stage
        super().__init__(message or self._by_kind())

    def _by_kind(self) -> str:
        code = f" (reply code {self.smtp_code})" if self.smtp_code is not None else ""
        return self.kind.value + code

    def redacted(self) -> SendFailed:
        """Only the kind of failure and the reply code."""
        return SendFailed(self.kind, smtp_code=self.smtp_code, stage=self.stage)


class TooLarge(DomainError):
    """A message over the size limit (HTTP 413, SMTP 552)."""

    message = "the message is larger than the limit"


class QuotaExceeded(DomainError):
    """The dealer has the most unfinished messages allowed (HTTP 429, SMTP 452)."""

    message = "the dealer's queue is full"


class OutsideSubtree(DomainError):
    """A dealer the key may not submit for: the same answer whether or not it exists
    (HTTP 403, SMTP 550)."""

    message = "the key may not submit for this dealer"

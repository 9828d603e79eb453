"""The submission protocol on aiosmtpd: who may authenticate, what each command is
answered, and the one place a message is queued (`handle_DATA`, which answers 250
only after `usecases.messages.submit` committed it).

Never an open relay: MAIL, RCPT and DATA need AUTH (530 before it), AUTH needs
TLS (STARTTLS or the implicit TLS port) unless the client is on loopback, and the
key is checked again, with the dealer it submits for, in the transaction that
queues the message, so a key revoked or a dealer blocked mid-session is refused at
once. A message the client does not finish (no final `.`) never reaches
`handle_DATA`, so nothing of it is kept.

AUTH is taken over from aiosmtpd (`handle_AUTH`) because its authenticator is
synchronous and the key check needs the database.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import dataclasses
import ipaddress
import logging
from base64 import b64decode
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, SMTP, TLSSetupException
from marshmallow import ValidationError

from navixy_panel.domain import errors as domain
from navixy_panel.domain.addresses import Mailbox
from navixy_panel.domain.delivery import MAX_RECIPIENTS, Accepted, KeyHolder, Submission
from navixy_panel.http.edge import database_unavailable
from navixy_panel.submission import headers
from navixy_panel.submission.metrics import ACCEPTED, SubmissionMetrics
from navixy_panel.usecases import messages, submission_logins
from navixy_panel.usecases.context import Context

if TYPE_CHECKING:
    from navixy_panel.submission.runtime import Listener

log = logging.getLogger(__name__)

IDENT = "navixy-panel ESMTP"
MECHANISMS = ("PLAIN", "LOGIN")
# Failed AUTH attempts one session may make before it is closed (the address's
# limit, shared with panel logins, still counts every one).
MAX_AUTH_FAILURES = 3
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_REFUSED = "535 5.7.8 Authentication credentials invalid"

# (metric reason, reply) per refusal of a message; `{max}` is the size limit.
REFUSALS: dict[type[domain.DomainError], tuple[str, str]] = {
    domain.BadCredentials: ("bad_credentials", AUTH_REFUSED),
    domain.OutsideSubtree: ("outside_subtree",
                            "550 5.7.1 The key may not submit for this dealer"),
    domain.TooLarge: ("too_large", "552 5.3.4 Message too big: at most {max} bytes"),
    domain.QuotaExceeded: ("quota_exceeded",
                           "452 4.3.1 The dealer's queue is full: try again later"),
    domain.RateLimited: ("rate_limited",
                         "452 4.7.1 Too many submissions with this key: slow down"),
    domain.Unavailable: ("unavailable", "451 4.3.0 Cannot take the message now: try again "
                                        "later"),
}
TOO_MANY_RECIPIENTS = f"452 4.5.3 Too many recipients: at most {MAX_RECIPIENTS} per message"
BAD_SENDER = "553 5.1.7 The sender address is not valid"
BAD_RECIPIENT = "553 5.1.3 The recipient address is not valid"
TRY_LATER = "451 4.3.0 Cannot take the message now: try again later"
# aiosmtpd's own size refusals (to SIZE= on MAIL, and after too much DATA), said as ours.
_AIOSMTPD_TOO_LARGE = ("552 Error: message size exceeds fixed maximum message size",
                       "552 Error: Too much mail data")

_ADDRESS = Mailbox()


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    """What AUTH proved, kept on the session for DATA (the key is checked again there)."""

    login: str
    secret: str = dataclasses.field(repr=False)
    holder: KeyHolder


def is_loopback(peer: Any) -> bool:
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except (ValueError, TypeError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Handler:
    """aiosmtpd's handler hooks (`handle_*`); one per listener."""

    def __init__(self, context: Context, metrics: SubmissionMetrics) -> None:
        self.context, self.metrics = context, metrics
        self.max_bytes = context.settings.message_max_bytes
        # Messages being queued, whether or not their session is still there.
        self.pending: set[asyncio.Task[str]] = set()

    async def handle_AUTH(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          args: list[str]) -> str | None:
        """aiosmtpd has checked the state (EHLO, TLS or loopback, not yet authenticated)
        and that the mechanism is one of MECHANISMS. None: the reply was sent."""
        taken = await _credentials(server, args)
        if taken is None:
            return None
        if isinstance(taken, str):
            return taken
        login, secret = taken
        try:
            holder = await submission_logins.authenticate(
                self.context, login=login, secret=secret,
                client_address=str(session.peer[0]) if session.peer else "")
        except domain.BadCredentials:
            self.metrics.auth("failed")
            failures = getattr(session, "auth_failures", 0) + 1
            session.auth_failures = failures
            if failures >= MAX_AUTH_FAILURES:
                await server.push("421 4.7.0 Too many failed authentications: closing")
                server.transport.close()
                return None
            return AUTH_REFUSED
        except domain.RateLimited:
            self.metrics.auth("rate_limited")
            return ("454 4.7.0 Too many failed authentications from this address: try "
                    "again later")
        except Exception as exc:
            _log_failure("AUTH", exc)
            return "454 4.7.0 Temporary authentication failure: try again later"
        self.metrics.auth("ok")
        session.authenticated = True
        session.auth_data = Credentials(login, secret, holder)
        return AUTH_OK

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, options: list[str]) -> str:
        try:
            _ADDRESS.deserialize(address)
        except ValidationError:
            return BAD_SENDER
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            if not getattr(envelope, "counted_too_many", False):
                envelope.counted_too_many = True
                self.metrics.message("too_many_recipients")
            return TOO_MANY_RECIPIENTS
        try:
            _ADDRESS.deserialize(address)
        except ValidationError:
            return BAD_RECIPIENT
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """The whole message has arrived (its final `.`), so it is queued even if the
        client goes away meanwhile: the commit is shielded from the session's end, and
        at worst a client that never read the 250 sends the message again."""
        server.busy = True
        task = asyncio.get_running_loop().create_task(self._queue(session, envelope))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        try:
            return await asyncio.shield(task)
        finally:
            server.busy = False

    async def _queue(self, session: Any, envelope: Any) -> str:
        credentials: Credentials = session.auth_data
        raw: bytes = envelope.original_content
        try:
            found = await headers.read(raw)
            submission = Submission(to=tuple(envelope.rcpt_tos), subject=found.subject,
                                    sender=envelope.mail_from, dealer=found.dealer, raw=raw)
            accepted = await self._submit(credentials.secret, submission)
        except domain.InvalidInput as error:
            self.metrics.message("invalid")
            return f"554 5.6.0 {next(iter(error.errors.values()))}"
        except domain.DomainError as error:
            reason, reply = next(((reason, reply) for kind, (reason, reply)
                                  in REFUSALS.items() if isinstance(error, kind)),
                                 ("refused", "554 5.7.0 Refused"))
            self.metrics.message(reason)
            if isinstance(error, domain.BadCredentials):
                session.authenticated, session.auth_data = False, None
            return reply.format(max=self.max_bytes)
        except Exception as exc:
            self.metrics.message("unavailable")
            _log_failure("DATA", exc)
            return TRY_LATER
        self.metrics.message(ACCEPTED)
        return f"250 2.0.0 OK queued as {accepted.id}"

    async def _submit(self, secret: str, submission: Submission) -> Accepted:
        """A header naming a number is a login first, then a dealer id: hosted
        installs have numeric logins, and ids are what API answers show."""
        try:
            return await messages.submit(self.context, secret, submission)
        except domain.OutsideSubtree:
            named = submission.dealer
            if not (isinstance(named, str) and named.isascii() and named.isdigit()
                    and len(named) <= 18):
                raise
        return await messages.submit(self.context, secret,
                                     dataclasses.replace(submission, dealer=int(named)))

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            log.debug("SMTP submission: TLS handshake failed")
        else:
            _log_failure("session", error)
        return "451 4.3.0 Error: try again later"


async def _credentials(server: Any, args: list[str]) -> tuple[str, str] | str | None:
    """(login, secret) from the client's AUTH exchange; a reply when it is malformed;
    None when aiosmtpd already answered (an aborted exchange)."""
    mechanism = args[0]
    if mechanism == "PLAIN":
        if len(args) == 1:
            response = await server.challenge_auth("")
        else:
            response = _decoded(args[1])
        if response is MISSING:
            return None
        if response is None:
            return "501 5.5.2 Cannot decode base64"
        parts = response.split(b"\x00")
        if len(parts) != 3:
            return "501 5.5.2 Cannot split the AUTH PLAIN response"
        authorize_as, login, secret = parts
        if authorize_as and authorize_as != login:
            return AUTH_REFUSED  # acting as another identity is not offered
    else:  # LOGIN
        login = await server.challenge_auth("Username:") if len(args) == 1 else _decoded(
            args[1])
        if login is MISSING:
            return None
        if login is None:
            return "501 5.5.2 Cannot decode base64"
        secret = await server.challenge_auth("Password:")
        if secret is MISSING:
            return None
    try:
        return login.decode("utf-8"), secret.decode("ascii")
    except UnicodeDecodeError:
        return "", ""  # no key is like that: refused (and counted) as a wrong one


def _decoded(text: str) -> bytes | None:
    try:
        return b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _log_failure(stage: str, error: BaseException) -> None:
    if database_unavailable(error):
        log.error("SMTP submission: database unavailable during %s (%s)", stage,
                  type(error).__name__)
    elif isinstance(error, (ConnectionError, asyncio.IncompleteReadError)):
        log.debug("SMTP submission: connection lost during %s", stage)
    else:
        log.error("SMTP submission: unexpected error during %s", stage, exc_info=error)


class SubmissionSMTP(SMTP):
    """One connection. Decides, before the greeting, whether AUTH needs TLS first
    (not on loopback, not when the connection is TLS already); tells the listener
    when it opens and closes, and refuses one beyond its session limit."""

    def __init__(self, handler: Handler, *, listener: Listener, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.listener = listener
        self.busy = False  # queueing a message: shutdown waits for it
        self._refused = False

    def connection_made(self, transport: Any) -> None:
        if self._original_transport is None and self.transport is None:  # not STARTTLS
            if not self.listener.admit(self):
                self._refused = True
                transport.write(b"421 4.7.0 Too many connections: try again later\r\n")
                transport.close()
                return
            encrypted = transport.get_extra_info("ssl_object") is not None
            self._auth_require_tls = not (encrypted or is_loopback(
                transport.get_extra_info("peername")))
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self.listener.release(self)
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    async def push(self, status: Any) -> None:
        if status in _AIOSMTPD_TOO_LARGE:
            self.listener.metrics.message("too_large")
            status = REFUSALS[domain.TooLarge][1].format(max=self.data_size_limit)
        await super().push(status)

    async def close_idle(self, reply: str) -> None:
        """At shutdown: says why and closes, unless a message is being queued."""
        if self.busy or self.transport is None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):  # the peer went away
            await super().push(reply)
        if self.transport is not None:
            self.transport.close()


"""Sending through a gateway's SMTP params with aiosmtplib: one test message
(`send`), a check that sends nothing (`check`), and a connection the delivery
workers keep for message after message (`connect`), all over one way of opening
a session.

Every param is honoured: implicit TLS on `ssl.port` when `use_ssl`, else a plain
connection on `port`, upgraded with STARTTLS when `starttls.enable` and the
server offers it, then greeted again (refused when `starttls.required` and it
does not offer it, and always when a login would follow: credentials never go
over a connection whose STARTTLS was stripped);
certificates are verified (against the system store and the operator's CA
bundle, NAVIXY_PANEL_TLS_CA_FILE) unless `ssl.trust_all_hosts`; AUTH only when
`mail.smtp.auth`; `connectiontimeout` bounds the connect, the TLS handshake
and the greeting, `timeout` every later command, and the caller's time budget
(what is left of the request) the whole exchange; a delivery connection's
opening and each of its messages have their own.

The destination is resolved once and checked (`destinations`); the socket is
connected here to a checked address and handed to aiosmtplib with the host
name, so TLS, implicit or STARTTLS, still verifies the certificate against the
name while no second lookup can move the connection elsewhere.

Any failure is a `SendFailed` with its kind. What its message may say is
chosen here: the server's reply code and text for a refused command, scrubbed
of the credentials in every form a server could echo them (plain, base64 of the
AUTH PLAIN and AUTH LOGIN lines), whatever command it answered, the final 250
included; a reply to AUTH by its code only (servers echo the AUTH line, with
base64 of user and password, in it); a peer that does not speak SMTP as just
that, never its banner; connection problems in our own words, not the
library's.

Why one module: the SMTP dialogue, its time budgets and the translation of
every library failure into a `SendFailed` are one sequence, whichever of the
three uses it; the destination policy itself is in `destinations.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TypeVar

import aiosmtplib

from navixy_panel.domain.errors import SendFailed, SendFailure
from navixy_panel.domain.smtp_params import (
    AUTH,
    CONNECT_TIMEOUT,
    DEBUG,
    HOST,
    PASSWORD_MECHANISMS,
    PORT,
    SSL_PORT,
    STARTTLS,
    STARTTLS_REQUIRED,
    TIMEOUT,
    TRUST_ALL,
    USE_SSL,
    USER,
    mechanisms,
    uses_oauth,
)
from navixy_panel.mail import destinations, oauth
from navixy_panel.mail.destinations import Policy, Target

log = logging.getLogger(__name__)
T = TypeVar("T")

# At most this long for QUIT after the outcome is known (within the time budget).
QUIT_SECONDS = 5.0
STRIPPED = ("the server does not offer STARTTLS, and the login is never sent without "
            "it (mail.smtp.starttls.enable)")


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    response: str  # the server's final reply, e.g. "250 OK queued as 123"


def tls_context(trust_all_hosts: bool, ca_pem: str | None = None) -> ssl.SSLContext:
    """The system store, plus the operator's CA bundle (NAVIXY_PANEL_TLS_CA_FILE) when
    given. Built per connection: the system store is read when the
    context is made, so a changed store (or SSL_CERT_FILE) is seen at once."""
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    if trust_all_hosts:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Dialogue:
    """`mail.debug`: logs each step of the SMTP exchange; AUTH shows no credential."""

    def __init__(self, enabled: bool, host: str) -> None:
        self.enabled, self.host = enabled, host

    def __call__(self, step: str, reply: object = "") -> None:
        if self.enabled:
            log.info("smtp %s: %s %s", self.host, step, reply)


class _AuthRefused(Exception):
    """A reply to AUTH: only its code may leave this module."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def send(params: dict[str, object], password: str | None, message: EmailMessage, *,
               rules: Policy, time_budget: float, ca_pem: str | None = None) -> Sent:
    """Sends within `time_budget` seconds, whatever the params' time-outs say."""

    async def deliver(session: _Session) -> Sent:
        client, secrets = session.client, session.secrets
        errors, reply_text = await client.send_message(
            message, timeout=_cut(client, session.deadline))
        reply_text = _scrub(reply_text, secrets)  # shown to the caller as `response`
        session.dialogue("DATA", reply_text)
        if errors:
            code, text = next(iter(errors.values()))
            raise _rejected(code, text, secrets)
        # aiosmtplib returns the text of the final reply; a successful DATA is always
        # 250 (RFC 5321), and clients expect the whole line, as nodemailer gives it.
        return Sent(str(message["Message-ID"]), f"250 {reply_text}")

    return await _session(params, password, rules, time_budget, deliver, _Stages(), ca_pem)


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a check: `connect`, `tls`, `ehlo`, `token` (OAuth), `auth`,
    `mail_from`, `rcpt_to`, `rset`."""

    name: str
    passed: bool
    ms: int
    code: int | None
    error: str | None = None  # what a failed step met, in send failures' words


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    expires: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class Checked:
    """What a check without sending found. A failed stage is the last one listed."""

    stages: list[Stage]
    extensions: list[str]
    auth_mechanisms: list[str]
    certificate: Certificate | None
    failure: SendFailed | None

    @property
    def passed(self) -> bool:
        return self.failure is None


async def check(params: dict[str, object], password: str | None, *, sender: str, to: str,
                rules: Policy, time_budget: float, ca_pem: str | None = None) -> Checked:
    """The sending session up to RCPT TO, then RSET and QUIT: nothing is sent. The
    same code path as `send` (STARTTLS and the second EHLO, the stripped-STARTTLS
    rule, the mechanisms allowed, scrubbing), with each stage timed."""
    stages = _Stages(record=True)
    seen: dict[str, object] = {}

    async def probe(session: _Session) -> None:
        client, deadline = session.client, session.deadline
        stages.begin("mail_from")
        reply = await client.mail(sender, timeout=_cut(client, deadline))
        stages.end(reply.code)
        stages.begin("rcpt_to")
        reply = await client.rcpt(to, timeout=_cut(client, deadline))
        stages.end(reply.code)
        stages.begin("rset")
        reply = await client.rset(timeout=_cut(client, deadline))
        stages.end(reply.code)

    stages.on_client = lambda client: seen.update(_capabilities(client))
    failure = None
    try:
        await _session(params, password, rules, time_budget, probe, stages, ca_pem)
    except SendFailed as failed:
        failure = failed
        stages.fail(failed)
    return Checked(stages.done, list(seen.get("extensions", [])),  # type: ignore[call-overload]
                   list(seen.get("mechanisms", [])),  # type: ignore[call-overload]
                   seen.get("certificate"), failure)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RecipientReply:
    address: str
    code: int
    text: str  # scrubbed


@dataclass(frozen=True, slots=True)
class Delivered:
    """The replies to one message's exchange. The message went out to the
    recipients with a 2xx reply when `data_code` is 2xx (the only value it takes:
    any other reply to DATA is a `SendFailed`)."""

    recipients: list[RecipientReply]  # the reply to each RCPT, in the order given
    data_code: int | None  # None when every RCPT was refused (no DATA was sent)
    data_text: str  # scrubbed
    ms: int  # how long this message's exchange took


async def connect(params: dict[str, object], password: str | None, *, rules: Policy,
                  time_budget: float, ca_pem: str | None = None) -> Connection:
    """A session for several messages, opened exactly as `send` and `check` open
    theirs (destination rules, STARTTLS and the second EHLO, the stripped-STARTTLS
    rule, the mechanisms allowed, XOAUTH2, scrubbing). `time_budget` bounds the
    opening only. A failure is a `SendFailed` whose `stage` is `connect`, `tls`,
    `ehlo`, `token` or `auth`."""
    deadline = asyncio.get_running_loop().time() + max(0.0, time_budget)
    session = await _open(params, password, rules, deadline, _Stages(), ca_pem)
    # Until now the client's own time-out was bounded by the opening's budget; from
    # here each exchange is bounded by its own.
    session.client.timeout = session.command_timeout
    return Connection(session)


class Connection:
    """An open SMTP session that carries one message after another (RSET between
    them), for the delivery workers. Not for concurrent use: one exchange at a time.

    A refusal of the message (a reply to MAIL FROM or DATA that is not 2xx) leaves
    the connection usable; anything that leaves the session in doubt (a drop, a
    time-out, a broken TLS record, a reply that is not SMTP, a 421, a refused RSET,
    a cancelled exchange) closes it, and `alive` turns False. A failure with stage
    `rset` sent nothing of its message: it may be tried again at once on a new
    connection."""

    def __init__(self, session: _Session) -> None:
        self._session = session
        self._alive = True
        self._used = False  # the server holds the state of an earlier exchange

    @property
    def alive(self) -> bool:
        """False once the session is unusable, also when the server hung up while it
        was idle (servers close idle sessions after a few minutes)."""
        return self._alive and self._session.client.is_connected

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def deliver(self, sender: str, recipients: Sequence[str], data: bytes, *,
                      time_budget: float) -> Delivered:
        """Sends `data` (a whole RFC 5322 message; the library dot-stuffs it) to each
        recipient the server accepts, within `time_budget` seconds. A refused
        recipient does not stop the others; a refusal of MAIL FROM or DATA is a
        `SendFailed(REJECTED)` with the reply code and scrubbed text."""
        session = self._session
        if not self.alive:
            raise SendFailed(SendFailure.CONNECTION, stage="connect",
                             message=f"the connection to {session.where} is closed")
        client, secrets, dialogue = session.client, session.secrets, session.dialogue
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + max(0.0, time_budget)
        step = "rset" if self._used else "mail_from"
        replies: list[RecipientReply] = []
        try:
            with _translated(session.where, secrets, lambda: step):
                async with asyncio.timeout_at(deadline):
                    if self._used:
                        dialogue("RSET", await self._reset(deadline))
                    step = "mail_from"
                    options, encoding = _mail_options(client, sender, recipients, data)
                    self._used = True
                    reply = await client.mail(sender, options=options, encoding=encoding,
                                              timeout=_cut(client, deadline))
                    dialogue("MAIL FROM", reply.code)
                    step = "rcpt_to"
                    for address in recipients:
                        code, text = await _recipient(client, address, encoding, deadline)
                        dialogue("RCPT TO", code)
                        replies.append(RecipientReply(address, code, _scrub(text, secrets)))
                    if not any(200 <= rcpt.code < 300 for rcpt in replies):
                        return Delivered(replies, None, "", _ms(started))
                    step = "data"
                    reply = await client.data(data, timeout=_cut(client, deadline))
                    text = _scrub(reply.message, secrets)
                    dialogue("DATA", text)
                    return Delivered(replies, reply.code, text, _ms(started))
        except SendFailed as failure:
            if not (failure.kind is SendFailure.REJECTED and failure.smtp_code != 421):
                self._drop()  # 421: the server is closing the session (RFC 5321)
            raise
        except BaseException:
            self._drop()
            raise

    async def close(self) -> None:
        """QUIT politely, for a few seconds at most; never fails."""
        self._alive = False
        client = self._session.client
        await _quit(client, asyncio.get_running_loop().time() + QUIT_SECONDS)
        client.close()

    async def _reset(self, deadline: float) -> int:
        """RSET before each message after the first: whatever the last exchange left
        (an envelope with every recipient refused, a refused DATA) is discarded."""
        client = self._session.client
        try:
            return (await client.rset(timeout=_cut(client, deadline))).code
        except aiosmtplib.SMTPResponseException as exc:
            if not 200 <= exc.code <= 599:
                raise
            # Not a verdict on the message: the session is in doubt, so it ends here.
            raise SendFailed(SendFailure.CONNECTION, message=(
                f"{self._session.where} refused RSET (reply code {exc.code})")) from None

    def _drop(self) -> None:
        self._alive = False
        self._session.client.close()


def _mail_options(client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str],
                  data: bytes) -> tuple[list[str], str]:
    """MAIL FROM's parameters, as aiosmtplib's `send_message` chooses them, and the
    encoding of the addresses."""
    options = []
    if client.supports_extension("size"):
        # RFC 1870 takes an estimate: bare line ends will go out as CRLF.
        size = len(data) + data.count(b"\n") - data.count(b"\r\n")
        options.append(f"SIZE={size}")
    if not data.isascii() and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if all(address.isascii() for address in (sender, *recipients)):
        return options, "ascii"
    if not client.supports_extension("smtputf8"):
        raise SendFailed(SendFailure.REJECTED, message=(
            "the server cannot take this message (an address is not ASCII, and the "
            "server does not offer SMTPUTF8)"))
    return [*options, "SMTPUTF8"], "utf-8"


async def _recipient(client: aiosmtplib.SMTP, address: str, encoding: str,
                     deadline: float) -> tuple[int, str]:
    """The reply to one RCPT TO; a refusal is a reply like any other here, except
    421 (the server is closing the session) and what is not SMTP."""
    try:
        reply = await client.rcpt(address, encoding=encoding, timeout=_cut(client, deadline))
    except aiosmtplib.SMTPRecipientRefused as exc:
        if not 200 <= exc.code <= 599 or exc.code == 421:
            raise
        return exc.code, exc.message
    return reply.code, reply.message


def _capabilities(client: aiosmtplib.SMTP) -> dict[str, object]:
    """What the server said of itself in its last EHLO, and its certificate."""
    found: dict[str, object] = {
        "extensions": sorted(name.upper() for name in client.esmtp_extensions),
        "mechanisms": [name.upper() for name in client.server_auth_methods]}
    transport = client.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is not None:
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            found["certificate"] = _certificate(der)
    return found


def _certificate(der: bytes) -> Certificate:
    from cryptography import x509  # only checks read certificates

    cert = x509.load_der_x509_certificate(der)
    return Certificate(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                       cert.not_valid_after_utc.isoformat())


class _Stages:
    """Times the steps of a session; `send` and `connect` keep no record (`record`
    False), only the step under way, which a failure names (`SendFailed.stage`)."""

    def __init__(self, record: bool = False) -> None:
        self.record = record
        self.done: list[Stage] = []
        self.current: tuple[str, float] | None = None
        self.on_client: Callable[[aiosmtplib.SMTP], None] | None = None

    def begin(self, name: str) -> None:
        self.current = (name, time.perf_counter())

    def end(self, code: int | None = None, passed: bool = True) -> None:
        if self.record and self.current is not None:
            name, started = self.current
            self.done.append(Stage(name, passed, _ms(started), code))
        self.current = None

    def name(self) -> str | None:
        return None if self.current is None else self.current[0]

    def fail(self, failure: SendFailed) -> None:
        if self.record and self.current is not None:
            name, started = self.current
            self.done.append(Stage(name, False, _ms(started), failure.smtp_code, str(failure)))
            self.current = None

    def cancel(self) -> None:
        self.current = None

    def seen(self, client: aiosmtplib.SMTP) -> None:
        if self.on_client is not None:
            self.on_client(client)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


@dataclass(slots=True)
class _Session:
    """A connected, greeted (and, when asked, upgraded and logged-in) SMTP client."""

    client: aiosmtplib.SMTP
    secrets: list[str]
    deadline: float
    dialogue: _Dialogue
    rules: Policy
    ca_pem: str | None
    where: str  # host:port, how failures name the server
    command_timeout: float


async def _session(params: dict[str, object], password: str | None, rules: Policy,
                   time_budget: float, work: Callable[[_Session], Awaitable[T]],
                   stages: _Stages, ca_pem: str | None) -> T:
    """Opens a session, runs `work` and QUITs, all within `time_budget`; every
    failure on the way is a `SendFailed`."""
    deadline = asyncio.get_running_loop().time() + max(0.0, time_budget)
    session = await _open(params, password, rules, deadline, stages, ca_pem)
    try:
        with _translated(session.where, session.secrets, stages.name):
            async with asyncio.timeout_at(deadline):
                return await work(session)
    finally:
        await _quit(session.client, deadline)


async def _open(params: dict[str, object], password: str | None, rules: Policy,
                deadline: float, stages: _Stages, ca_pem: str | None) -> _Session:
    """Connects, greets, upgrades and logs in as the params say, by `deadline`; a
    failure is a `SendFailed` naming its stage, after QUIT when the server still
    listens."""
    host = str(params[HOST])
    name = _tls_name(host)
    use_ssl = bool(params[USE_SSL])
    port = int(params[SSL_PORT] if use_ssl else params[PORT])  # type: ignore[call-overload]
    where = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    secrets = _credential_forms(str(params.get(USER) or ""), password or "")
    loop = asyncio.get_running_loop()
    connect_by = min(deadline,
                     loop.time() + int(params[CONNECT_TIMEOUT]) / 1000)  # type: ignore[call-overload]
    command_timeout = int(params[TIMEOUT]) / 1000  # type: ignore[call-overload]
    dialogue = _Dialogue(bool(params[DEBUG]), host)
    client: aiosmtplib.SMTP | None = None
    sock: socket.socket | None = None  # ours to close until a transport takes it
    try:
        with _translated(where, secrets, stages.name):
            async with asyncio.timeout_at(deadline):
                # The connect time-out covers the lookup, the TCP connect, the TLS
                # handshake and the greeting together.
                async with asyncio.timeout_at(connect_by):
                    stages.begin("connect")
                    targets = await destinations.resolve_for_send(host, port, rules)
                    sock = await _connect(targets, dialogue, use_ssl)
                    client = aiosmtplib.SMTP(
                        hostname=name, sock=sock, use_tls=use_ssl, start_tls=False,
                        # Only for a connection that may use TLS: loading the system
                        # store costs ~2 ms, which a plain relay's deliveries repaid
                        # on every connection.
                        tls_context=(tls_context(bool(params[TRUST_ALL]), ca_pem)
                                     if use_ssl or params[STARTTLS] else None),
                        timeout=min(command_timeout, _left(deadline)))
                    if use_ssl:
                        stages.end()
                        stages.begin("tls")
                    # From here the transport made around the socket closes it, also
                    # when the handshake or the greeting fails.
                    sock = None
                    greeting = await client.connect(timeout=_left(connect_by))
                    stages.end(greeting.code)
                session = _Session(client, secrets, deadline, dialogue, rules, ca_pem, where,
                                   command_timeout)
                await _handshake(session, params, password, use_ssl, stages)
                return session
    except BaseException:
        if client is not None:
            await _quit(client, deadline)
        raise
    finally:
        if sock is not None:
            # Only a socket no transport owns: a TLS transport closes asynchronously
            # (close_notify), and closing its socket under it frees the descriptor
            # while the loop still maps it to that transport, so the next connection
            # given the same number fails ("File descriptor … is used by transport").
            sock.close()


@contextlib.contextmanager
def _translated(where: str, secrets: list[str],
                stage: Callable[[], str | None]) -> Iterator[None]:
    """Every library failure as a `SendFailed`, with the stage under way when the
    failure does not name one."""
    try:
        yield
    except Exception as exc:
        failure = _translation(exc, where, secrets)
        if failure is None:  # not a failure of the exchange: goes on as it is
            raise
        if failure.stage is None:
            failure.stage = stage()
        if failure is exc:
            raise
        raise failure from None


def _translation(exc: Exception, where: str, secrets: list[str]) -> SendFailed | None:
    if isinstance(exc, SendFailed):
        return exc
    if isinstance(exc, _AuthRefused):
        return SendFailed(SendFailure.AUTH_REFUSED, smtp_code=exc.code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if not 200 <= exc.code <= 599:  # aiosmtplib's -1: what came back was not SMTP
            return _not_smtp(where)
        return _rejected(exc.code, exc.message, secrets)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        first = exc.recipients[0]
        return _rejected(first.code, first.message, secrets)
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):  # before OSError
        return SendFailed(SendFailure.TIMEOUT, message=f"{where} did not answer in time")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
        return _failure(exc, where)
    return None


async def _connect(targets: list[Target], dialogue: _Dialogue, use_ssl: bool) -> socket.socket:
    """A TCP connection to the first checked address that accepts one (the
    resolver's order, as a plain connect would try them)."""
    loop = asyncio.get_running_loop()
    error: OSError | None = None
    for target in targets:
        sock = socket.socket(target.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            dialogue("connect", f"{target.address} port {target.sockaddr[1]}"
                                f"{' (implicit TLS)' if use_ssl else ''}")
            await loop.sock_connect(sock, target.sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
        else:
            return sock
    assert error is not None  # resolve_for_send never returns an empty list
    raise error


async def _handshake(session: _Session, params: dict[str, object], password: str | None,
                     use_ssl: bool, stages: _Stages) -> None:
    client, dialogue, deadline = session.client, session.dialogue, session.deadline
    where = session.where
    stages.begin("ehlo")
    reply = await client.ehlo(timeout=_cut(client, deadline))
    dialogue("EHLO", reply.code)
    stages.end(reply.code)
    stages.seen(client)
    if not use_ssl and params[STARTTLS]:
        stages.begin("tls")
        code = await _starttls(client, bool(params[AUTH]), bool(params[STARTTLS_REQUIRED]),
                               where, dialogue, deadline)
        if code is None:  # not offered, and neither required nor needed for a login
            stages.cancel()
        else:
            stages.end(code)
            stages.seen(client)
    if uses_oauth(params):
        code = await _oauth_login(session, params, password or "", stages)
        dialogue("AUTH XOAUTH2 ***", code)
    elif params[AUTH]:
        stages.begin("auth")
        code = await _authenticate(client, mechanisms(params), str(params[USER] or ""),
                                   password or "", _cut(client, deadline))
        dialogue("AUTH ***", code)
        stages.end(code)


async def _starttls(client: aiosmtplib.SMTP, auth: bool, required: bool, where: str,
                    dialogue: _Dialogue, deadline: float) -> int | None:
    """Upgrades the connection, then greets again: STARTTLS discards what the server
    said before it (RFC 3207), so its AUTH mechanisms are only known from a new EHLO,
    and may differ from the plain-text ones (Postfix's submission port offers none
    before TLS).

    With a login to send, a server that does not offer STARTTLS, or fails the upgrade,
    is treated as an on-path attacker who stripped it: no AUTH and no message, whatever
    `starttls.required` says. Without a login, only `starttls.required` refuses the
    plain connection, as JavaMail does."""
    if not client.supports_extension("starttls"):
        if auth:
            raise SendFailed(SendFailure.TLS, message=STRIPPED)
        if required:
            raise SendFailed(SendFailure.STARTTLS_UNAVAILABLE)
        return None
    try:
        reply = await client.starttls(timeout=_cut(client, deadline))
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if not 200 <= exc.code <= 599:
            raise
        # A refused STARTTLS is a failed upgrade: nothing more goes over this connection.
        raise SendFailed(SendFailure.TLS, smtp_code=exc.code,
                         message=f"the server refused STARTTLS (reply code {exc.code})") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        # A handshake the peer breaks off is a failed upgrade too, not a lost connection.
        failure = _failure(exc, where)
        if failure.kind is not SendFailure.TLS:
            failure = SendFailed(SendFailure.TLS, message=f"the TLS upgrade with {where} "
                                                          "failed (the connection was lost)")
        raise failure from None
    dialogue("STARTTLS", reply.code)
    dialogue("EHLO", (await client.ehlo(timeout=_cut(client, deadline))).code)
    return reply.code


async def _authenticate(client: aiosmtplib.SMTP, allowed: tuple[str, ...], user: str,
                        password: str, timeout: float) -> int:
    """One attempt with the best mechanism both offered and allowed
    (`mail.smtp.auth.mechanisms`, so a dealer can avoid one a server advertises
    but does not accept). aiosmtplib's `login()` retries every mechanism after a
    refusal, which multiplies failed logins on the server (and desynchronises
    some servers after a 535)."""
    offered = client.server_auth_methods
    chosen = next((name for name in allowed if name.lower() in offered), None)
    try:
        if chosen == "CRAM-MD5":
            reply = await client.auth_crammd5(user, password, timeout=timeout)
        elif chosen == "PLAIN":
            reply = await client.auth_plain(user, password, timeout=timeout)
        elif chosen == "LOGIN":
            reply = await client.auth_login(user, password, timeout=timeout)
        elif allowed == PASSWORD_MECHANISMS:
            raise SendFailed(SendFailure.AUTH_UNSUPPORTED)
        else:
            raise SendFailed(SendFailure.AUTH_UNSUPPORTED, message=(
                "the server offers none of the AUTH mechanisms allowed "
                f"(mail.smtp.auth.mechanisms: {' '.join(allowed)})"))
    except aiosmtplib.SMTPResponseException as exc:
        if not 200 <= exc.code <= 599:
            raise
        raise _AuthRefused(exc.code) from None
    return reply.code


async def _oauth_login(session: _Session, params: dict[str, object], secret: str,
                       stages: _Stages) -> int:
    """XOAUTH2 with a client-credentials token (`oauth`). A cached token the server
    refuses (revoked, or expired early) is dropped and one fresh token tried; a fresh
    token refused is the server's answer."""
    client, deadline = session.client, session.deadline
    if "xoauth2" not in client.server_auth_methods:
        raise SendFailed(SendFailure.AUTH_UNSUPPORTED, message=(
            "the server does not offer AUTH XOAUTH2 (mail.smtp.auth.mechanisms: XOAUTH2)"))
    user = str(params[USER] or "")
    tls = tls_context(False, session.ca_pem)  # a token endpoint is always verified
    for attempt in (1, 2):
        stages.begin("token")
        access, cached = await oauth.token(params, secret, rules=session.rules, tls=tls,
                                           deadline=deadline)
        stages.end()
        line = base64.b64encode(f"user={user}\x01auth=Bearer {access}\x01\x01".encode())
        session.secrets[:0] = [line.decode(), access]  # scrubbed from any reply
        stages.begin("auth")
        timeout = _cut(client, deadline)
        reply = await client.execute_command(b"AUTH", b"XOAUTH2", line, timeout=timeout)
        if reply.code == 334:
            # RFC 7628: the error challenge (base64 JSON) is answered with an empty line.
            reply = await client.execute_command(b"", timeout=timeout)
        if reply.code == 235:
            stages.end(reply.code)
            return reply.code
        if not 200 <= reply.code <= 599:
            raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
        oauth.forget(params, secret)
        if not cached or attempt == 2:
            raise _AuthRefused(reply.code)
        stages.end(reply.code, passed=False)  # the cached token's; a fresh one follows
    raise AssertionError("unreachable")


def _cut(client: aiosmtplib.SMTP, deadline: float) -> float:
    """The command time-out, shortened to what is left of the budget."""
    return min(math.inf if client.timeout is None else client.timeout, _left(deadline))


def _left(deadline: float) -> float:
    return max(0.001, deadline - asyncio.get_running_loop().time())


def _tls_name(host: str) -> str:
    """What the certificate must carry: the host name as configured, without URL
    brackets or the root's trailing dot (neither is part of a certificate name),
    or the address an IP literal spells, in its canonical form."""
    address = destinations.literal(host)
    return str(address) if address is not None else host.strip().strip("[]").rstrip(".")


async def _quit(client: aiosmtplib.SMTP, deadline: float) -> None:
    """QUIT politely when time allows; never turns a known outcome into a failure."""
    if not client.is_connected:
        return
    try:
        await client.quit(timeout=min(QUIT_SECONDS, _left(deadline)))
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


def _failure(exc: BaseException, where: str) -> SendFailed:
    """Connection-level failures, described in our words: aiosmtplib's texts name
    hosts and ports as it saw them and may quote the peer."""
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPException) else exc
    if isinstance(cause, ssl.SSLError):
        return _tls_failed(cause, where)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SendFailed(SendFailure.REJECTED, message=f"the server cannot take this "
                          f"message ({exc})")
    if isinstance(cause, ConnectionRefusedError):
        return SendFailed(SendFailure.CONNECTION, message=f"{where} refused the connection")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected) or isinstance(cause, ConnectionError):
        return SendFailed(SendFailure.CONNECTION, message=f"{where} closed the connection")
    if isinstance(cause, OSError) and cause.strerror:
        return SendFailed(SendFailure.CONNECTION,
                          message=f"{where} could not be reached ({cause.strerror.lower()})")
    return SendFailed(SendFailure.CONNECTION, message=f"the SMTP exchange with {where} failed")


def _tls_failed(error: ssl.SSLError, where: str) -> SendFailed:
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = f"certificate verify failed: {error.verify_message}"
    else:
        detail = (error.reason or "TLS error").lower().replace("_", " ")
    return SendFailed(SendFailure.TLS, message=f"TLS with {where} failed ({detail})")


def _not_smtp(where: str) -> SendFailed:
    return SendFailed(SendFailure.NOT_SMTP, message=f"{where} is not an SMTP server")


def _credential_forms(user: str, password: str) -> list[str]:
    """Every spelling of the credentials a server could quote back: as given, and as
    base64 of the AUTH PLAIN line (NUL, user, NUL, password) and of each AUTH LOGIN
    line (user and password apart), with and without base64's `=` padding; longest
    first, so a form is replaced before any part of it is."""
    forms = {user, password}
    if user or password:
        for raw in (f"\0{user}\0{password}", user, password):
            if raw:
                encoded = base64.b64encode(raw.encode()).decode()
                forms.update((encoded, encoded.rstrip("=")))
    return sorted((form for form in forms if form), key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _rejected(code: int, text: str, secrets: list[str]) -> SendFailed:
    return SendFailed(SendFailure.REJECTED, smtp_code=code,
                      message=f"the server replied {code} {_scrub(text, secrets)}".strip())

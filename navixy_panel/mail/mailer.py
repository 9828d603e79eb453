"""Sending a message through a gateway's SMTP params with aiosmtplib.

Every param is honoured: implicit TLS on `ssl.port` when `use_ssl`, else a plain
connection on `port`, upgraded with STARTTLS when `starttls.enable` and the
server offers it (and refused when `starttls.required` and it does not);
certificates are verified unless `ssl.trust_all_hosts`; AUTH only when
`mail.smtp.auth`; `connectiontimeout` bounds the connect and the TLS
handshake, `timeout` every later command. Any failure is a `SendFailed` with its
kind, the server's reply code and text, never a credential.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from navixy_panel.domain.errors import SendFailed, SendFailure
from navixy_panel.domain.smtp_params import (
    AUTH,
    CONNECT_TIMEOUT,
    DEBUG,
    HOST,
    PORT,
    SSL_PORT,
    STARTTLS,
    STARTTLS_REQUIRED,
    TIMEOUT,
    TRUST_ALL,
    USE_SSL,
    USER,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    response: str  # the server's final reply, e.g. "250 OK queued as 123"


def tls_context(trust_all_hosts: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
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


async def send(params: dict[str, object], password: str | None,
               message: EmailMessage) -> Sent:
    host = str(params[HOST])
    use_ssl = bool(params[USE_SSL])
    port = int(params[SSL_PORT] if use_ssl else params[PORT])  # type: ignore[call-overload]
    secrets = [s for s in (password, params.get(USER)) if s]
    dialogue = _Dialogue(bool(params[DEBUG]), host)
    client = aiosmtplib.SMTP(
        hostname=host, port=port, use_tls=use_ssl, start_tls=False,
        tls_context=tls_context(bool(params[TRUST_ALL])),
        timeout=int(params[TIMEOUT]) / 1000,  # type: ignore[call-overload]
    )
    try:
        dialogue("connect", f"port {port}{' (implicit TLS)' if use_ssl else ''}")
        await client.connect(timeout=int(params[CONNECT_TIMEOUT]) / 1000)  # type: ignore[call-overload]
        dialogue("EHLO", (await client.ehlo()).code)
        if not use_ssl and params[STARTTLS]:
            if client.supports_extension("starttls"):
                dialogue("STARTTLS", (await client.starttls()).code)
            elif params[STARTTLS_REQUIRED]:
                raise SendFailed(SendFailure.STARTTLS_UNAVAILABLE)
        if params[AUTH]:
            reply = await _authenticate(client, str(params[USER] or ""), password or "")
            dialogue("AUTH ***", reply.code)
        errors, reply_text = await client.send_message(message)
        dialogue("DATA", reply_text)
        if errors:
            code, text = next(iter(errors.values()))
            raise _rejected(code, text, secrets)
        # aiosmtplib returns the text of the final reply; a successful DATA is always
        # 250 (RFC 5321), and clients expect the whole line, as nodemailer gives it.
        return Sent(str(message["Message-ID"]), f"250 {reply_text}")
    except aiosmtplib.SMTPResponseException as exc:
        raise _rejected(exc.code, exc.message, secrets) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        raise _rejected(first.code, first.message, secrets) from None
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise SendFailed(SendFailure.TIMEOUT,
                         message=f"{host}:{port} did not answer in time") from None
    except ssl.SSLError as exc:
        reason = exc.reason or "TLS error"
        raise SendFailed(SendFailure.TLS, message=f"TLS with {host}:{port} failed "
                         f"({reason.lower().replace('_', ' ')})") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        detail = _scrub(str(exc) or type(exc).__name__, secrets)
        raise SendFailed(SendFailure.CONNECTION, message=detail) from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


async def _authenticate(client: aiosmtplib.SMTP, user: str,
                        password: str) -> aiosmtplib.SMTPResponse:
    """One attempt with the best mechanism offered. aiosmtplib's `login()` retries
    every mechanism after a refusal, which multiplies failed logins on the
    server (and desynchronises some servers after a 535)."""
    offered = client.server_auth_methods
    if "cram-md5" in offered:
        return await client.auth_crammd5(user, password)
    if "plain" in offered:
        return await client.auth_plain(user, password)
    if "login" in offered:
        return await client.auth_login(user, password)
    raise SendFailed(SendFailure.AUTH_UNSUPPORTED)


def _scrub(text: str, secrets: list[object]) -> str:
    for secret in secrets:
        text = text.replace(str(secret), "***")
    return text


def _rejected(code: int, text: str, secrets: list[object]) -> SendFailed:
    return SendFailed(SendFailure.REJECTED, smtp_code=code,
                      message=f"the server replied {code} {_scrub(text, secrets)}".strip())

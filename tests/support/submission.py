"""SMTP submission tests' shared steps: the listener of a test app, certificate files an
operator would give, messages as mail libraries write them, clients (aiosmtplib,
smtplib in a thread, so the app's loop keeps serving), and a credential-injecting
forwarder for clients that cannot authenticate (Postfix's smtp-source)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import trustme
from aiohttp.test_utils import TestClient

from navixy_panel.submission.runtime import SUBMISSION, Listener

HOST = "127.0.0.1"


def listener(client: TestClient) -> Listener:
    return client.app[SUBMISSION]


def port(client: TestClient, kind: str = "starttls") -> int:
    return listener(client).ports[kind]


def certificate_files(folder: Path, ca: trustme.CA, *names: str) -> tuple[Path, Path]:
    """A server certificate for `names` from `ca`, as the PEM files an operator gives."""
    issued = ca.issue_cert(*(names or ("localhost", "127.0.0.1")))
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    return cert, key


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def message(*, to: str = "customer@example.com", subject: str = "Alarm",
            body: str = "Vehicle 7 left the zone.", **headers: str) -> bytes:
    """A message as a mail library writes it; `headers` by their names with `_` for `-`
    (X_Navixy_Dealer="sub")."""
    mail = EmailMessage()
    mail["From"] = "Billing <billing@platform.example>"
    mail["To"] = to
    mail["Subject"] = subject
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail.as_bytes()


async def connect(port: int, *, host: str = HOST, tls: ssl.SSLContext | None = None,
                  implicit: bool = False, timeout: float = 10) -> aiosmtplib.SMTP:
    """An EHLO'd aiosmtplib client; with `tls`, after STARTTLS (or on the implicit
    TLS port)."""
    smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, use_tls=implicit,
                           start_tls=False, tls_context=tls if implicit else None)
    await smtp.connect()
    await smtp.ehlo()
    if tls is not None and not implicit:
        await smtp.starttls(tls_context=tls)
    return smtp


async def auth_plain(smtp: aiosmtplib.SMTP, login: str, secret: str) -> aiosmtplib.SMTPResponse:
    """The reply to AUTH PLAIN, refused or not (aiosmtplib's login() raises on refusal)."""
    blob = base64.b64encode(f"\0{login}\0{secret}".encode()).decode()
    return await smtp.execute_command(b"AUTH", b"PLAIN", blob.encode())


async def command(smtp: aiosmtplib.SMTP, *words: str) -> tuple[int, str]:
    reply = await smtp.execute_command(*(word.encode() for word in words))
    return reply.code, reply.message


async def transaction(smtp: aiosmtplib.SMTP, raw: bytes, *, sender: str = "app@platform.example",
                      to: tuple[str, ...] = ("customer@example.com",)) -> tuple[int, str]:
    """MAIL, RCPT… and DATA; the first refusal or DATA's reply, as (code, text)."""
    reply = await smtp.execute_command(b"MAIL", f"FROM:<{sender}>".encode())
    if reply.code != 250:
        return reply.code, reply.message
    for address in to:
        reply = await smtp.execute_command(b"RCPT", f"TO:<{address}>".encode())
        if reply.code != 250:
            return reply.code, reply.message
    try:
        reply = await smtp.data(raw)
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message
    return reply.code, reply.message


async def submit(port: int, login: str, secret: str, raw: bytes | None = None,
                 **kwargs: Any) -> tuple[int, str]:
    """One message over a session of its own, on loopback (no TLS needed)."""
    smtp = await connect(port)
    try:
        reply = await auth_plain(smtp, login, secret)
        if reply.code != 235:
            return reply.code, reply.message
        return await transaction(smtp, raw or message(), **kwargs)
    finally:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()


async def queued(api: Any) -> int:
    return int((await api.sql("SELECT count(*) AS n FROM mail_messages"))[0].n)


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (its clients are not trusted
    to send AUTH in clear), or None."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        address = str(probe.getsockname()[0])
        if not address.startswith("127."):
            return address
    return None


def tool_missing(name: str, package: str) -> str | None:
    """The skip reason naming the Debian package when `name` is not installed."""
    if shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        return f"{name} is not installed (apt-get install {package})"
    return None


@contextlib.asynccontextmanager
async def authenticating_forwarder(target_port: int, login: str, secret: str,
                                   port: int = 0) -> AsyncIterator[int]:
    """A loopback port that forwards each connection to `target_port` after logging
    in with `login` and `secret` itself: what a client configured with credentials
    does, for a test client that has no AUTH (smtp-source). It answers the client's
    HELO or EHLO with the target's EHLO reply, sends AUTH PLAIN upstream, and from
    then on copies bytes both ways. The listener under test is unchanged: it still
    sees an ordinary authenticated client."""
    blob = base64.b64encode(f"\0{login}\0{secret}".encode())

    async def reply(reader: asyncio.StreamReader) -> list[bytes]:
        lines = [await reader.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(await reader.readline())
        return lines

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def serve(client_reader: asyncio.StreamReader,
                    client_writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, target_port)
        client_writer.write(b"".join(await reply(up_reader)))  # the greeting
        hello = await client_reader.readline()
        name = hello.split(b" ", 1)[1].strip() if b" " in hello else b"client"
        up_writer.write(b"EHLO " + name + b"\r\n")
        ehlo = await reply(up_reader)
        up_writer.write(b"AUTH PLAIN " + blob + b"\r\n")
        auth = await reply(up_reader)
        assert auth[0].startswith(b"235"), auth
        if hello.upper().startswith(b"EHLO"):
            client_writer.write(b"".join(ehlo))
        else:
            client_writer.write(b"250 " + ehlo[0][4:].strip() + b"\r\n")
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(serve, HOST, port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()

"""Real SMTP peers for sending tests: aiosmtpd servers (plain, STARTTLS,
implicit TLS with a trustme certificate, AUTH), raw TCP peers that send a fixed
greeting (or none) and never answer, and server certificates for chosen names."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.net import free_port

USER, PASSWORD = "relay-user", "relay-secret-42"
# What a peer that is not an SMTP server says first: it must never reach a caller.
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 internal-db-07.corp.example\r\n"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    tls: bool


@dataclass
class Recorder:
    """aiosmtpd handler keeping every accepted message."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      message_from_bytes(envelope.content), encrypted))
        return "250 2.0.0 OK queued as test-1"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    # handled=False: aiosmtpd then answers the refusal itself (535).
    return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    port: int
    recorder: Recorder

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server certificate for `names`, issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def certificate_context() -> ssl.SSLContext:
    """A server certificate for localhost/127.0.0.1 from a throwaway CA nobody trusts."""
    return server_context(trustme.CA(), "localhost", "127.0.0.1")


@contextlib.contextmanager
def aiosmtpd_server(*, host: str = "127.0.0.1", starttls: ssl.SSLContext | None = None,
                    implicit_tls: ssl.SSLContext | None = None,
                    authenticator: Callable[..., AuthResult] | None = None,
                    handler: Any = None, port: int | None = None,
                    auth_require_tls: bool = False) -> Iterator[Server]:
    recorder = handler or Recorder()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs["tls_context"] = starttls
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if authenticator is not None:
        # auth_require_tls: AUTH offered only after STARTTLS, as on a submission port.
        kwargs.update(authenticator=authenticator, auth_require_tls=auth_require_tls,
                      auth_required=True)
    port = port or free_port(host)
    controller = Controller(recorder, hostname=host, port=port, **kwargs)
    controller.start()
    try:
        yield Server(port, recorder)
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_server(*, starttls: bool = False, implicit_tls: bool = False,
                auth: bool = False, auth_after_tls: bool = False) -> Iterator[Server]:
    with aiosmtpd_server(starttls=certificate_context() if starttls else None,
                         implicit_tls=certificate_context() if implicit_tls else None,
                         authenticator=_authenticate if auth else None,
                         auth_require_tls=auth_after_tls) as server:
        yield server


@contextlib.contextmanager
def scripted_peer(greeting: bytes) -> Iterator[int]:
    """Accepts TCP connections, sends `greeting`, then reads and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connection = listener.accept()[0]
                held.append(connection)
                connection.sendall(greeting)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def silent_server() -> contextlib.AbstractContextManager[int]:
    """Accepts TCP connections and never says a word (no SMTP greeting)."""
    return scripted_peer(b"")


@dataclass
class Dialogue:
    """What a `talking_peer` was sent, line by line, over every connection."""

    lines: list[str] = field(default_factory=list)

    def commands(self) -> list[str]:
        return [line.split(" ", 1)[0].upper() for line in self.lines]


@contextlib.contextmanager
def talking_peer(*, starttls_reply: str | None = None, auth: str = "PLAIN LOGIN",
                 mail_reply: Callable[[list[str]], str] | None = None,
                 data_reply: Callable[[list[str]], str] | None = None
                 ) -> Iterator[tuple[int, Dialogue]]:
    """A scripted ESMTP server in plain text that records every line it receives.

    It offers the `auth` mechanisms and accepts any login; STARTTLS only when
    `starttls_reply` is given, and then answers STARTTLS with it (a refusal such as
    `454 4.7.0 TLS not available`, or `220 Ready` followed by closing the connection,
    a broken-off upgrade). `mail_reply` and `data_reply` make the answers to MAIL FROM
    and to the message's end from every line received so far on the connection (e.g.
    one echoing the AUTH exchange)."""
    dialogue = Dialogue()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def converse(connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        seen: list[str] = []

        def say(text: str) -> None:
            connection.sendall(text.encode() + b"\r\n")

        def read() -> str | None:
            raw = reader.readline(4096)
            if not raw:
                return None
            line = raw.decode(errors="replace").rstrip("\r\n")
            seen.append(line)
            dialogue.lines.append(line)
            return line

        with contextlib.suppress(OSError), connection:
            say("220 peer.example ESMTP")
            while (line := read()) is not None:
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    tls = ["250-STARTTLS"] if starttls_reply is not None else []
                    say("\r\n".join(["250-peer.example", *tls, f"250-AUTH {auth}",
                                     "250 8BITMIME"]))
                elif verb == "STARTTLS" and starttls_reply is not None:
                    say(starttls_reply)
                    if starttls_reply.startswith("220"):
                        return  # breaks off the TLS handshake
                elif verb == "AUTH" and line.upper().startswith("AUTH LOGIN"):
                    if len(line.split()) == 2:  # else the user came as an initial response
                        say("334 VXNlcm5hbWU6")
                        read()
                    say("334 UGFzc3dvcmQ6")
                    read()
                    say("235 2.7.0 Authentication successful")
                elif verb == "AUTH":
                    say("235 2.7.0 Authentication successful")
                elif verb == "MAIL":
                    say(mail_reply(seen) if mail_reply is not None else "250 2.1.0 Ok")
                elif verb == "RCPT":
                    say("250 2.1.5 Ok")
                elif verb == "DATA":
                    say("354 End data with <CR><LF>.<CR><LF>")
                    while (body := read()) is not None and body != ".":
                        pass
                    say(data_reply(seen) if data_reply is not None
                        else "250 2.0.0 Ok: queued as PEER1")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("250 2.0.0 Ok")

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connection = listener.accept()[0]
                connection.settimeout(10)
                thread = threading.Thread(target=converse, args=(connection,), daemon=True)
                thread.start()
                threads.append(thread)

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1]), dialogue
    finally:
        stop.set()
        acceptor.join()
        listener.close()
        for thread in threads:
            thread.join(timeout=10)

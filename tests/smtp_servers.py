"""Real SMTP peers for sending tests: aiosmtpd servers (plain, STARTTLS,
implicit TLS with a trustme certificate, AUTH), and raw TCP peers that send a fixed
greeting (or none) and never answer."""

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

USER, PASSWORD = "relay-user", "relay-secret-42"


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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    recorder: Recorder

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages


def certificate_context() -> ssl.SSLContext:
    """A server certificate for localhost/127.0.0.1 from a throwaway CA nobody trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


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

"""Peers the destination and error-text tests need beyond tests/smtp_servers.py: an
aiosmtpd server on any loopback address with a chosen certificate or AUTH answer,
and raw TCP peers that say a fixed thing (an SSH banner) or go quiet after greeting."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.smtp_servers import Recorder, Server

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 internal-db-07.corp.example\r\n"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server certificate for `names`, issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@contextlib.contextmanager
def aiosmtpd_server(*, host: str = "127.0.0.1", starttls: ssl.SSLContext | None = None,
                    implicit_tls: ssl.SSLContext | None = None,
                    authenticator: Callable[..., AuthResult] | None = None,
                    handler: Any = None, port: int | None = None) -> Iterator[Server]:
    recorder = handler or Recorder()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs["tls_context"] = starttls
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if authenticator is not None:
        kwargs.update(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    port = port or free_port(host)
    controller = Controller(recorder, hostname=host, port=port, **kwargs)
    controller.start()
    try:
        yield Server(port, recorder)
    finally:
        controller.stop()


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

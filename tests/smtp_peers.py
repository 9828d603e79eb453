"""What the destination and error-text tests need beyond tests/smtp_servers.py: a
banner of a peer that is not SMTP, server certificates for chosen names, and a
scripted ESMTP peer that records what the client said (stripped STARTTLS, echoed
credentials)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import trustme

from tests.smtp_servers import aiosmtpd_server, free_port, scripted_peer

__all__ = ["SSH_BANNER", "Dialogue", "aiosmtpd_server", "free_port", "scripted_peer",
           "server_context", "talking_peer"]

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 internal-db-07.corp.example\r\n"


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server certificate for `names`, issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context




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

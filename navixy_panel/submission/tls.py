"""The operator's certificate for STARTTLS and implicit TLS, read again when its files
change, so a renewed certificate (certbot, an ACME client) is used without a restart.

Servers are given one fixed context (`front`) whose SNI callback, which OpenSSL runs
on every handshake whether or not the client names a server, switches the handshake
to the newest loaded context. A new connection at most once a second starts a check
of the files' modification times in a worker thread, which loads them when they
changed; the connection itself never waits for it. A pair that does not load (a
half-written renewal, a key that does not match) is logged once and the previous
certificate stays in use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0

Signature = tuple[tuple[int, int, int], ...]


def _no_passphrase() -> bytes:
    """An encrypted key fails to load instead of prompting on the terminal."""
    return b""


def load(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key, password=_no_passphrase)
    return context


class Certificates:
    def __init__(self, cert: Path, key: Path, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cert, self.key, self.clock = cert, key, clock
        self._signature = self._stat()
        self.current = load(cert, key)
        self.front = load(cert, key)
        self.front.sni_callback = self._switch
        self._checked = clock()
        self._checking: asyncio.Task[None] | None = None
        self._refused: Signature | None = None
        self.reloads = 0

    def _switch(self, connection: ssl.SSLObject, server_name: str | None,
                context: ssl.SSLContext) -> None:
        connection.context = self.current

    def _stat(self) -> Signature:
        found = []
        for path in (self.cert, self.key):
            status = os.stat(path)
            found.append((status.st_mtime_ns, status.st_size, status.st_ino))
        return tuple(found)

    def connection_opened(self) -> None:
        """Called for each new connection: starts a check when one is due."""
        now = self.clock()
        if now - self._checked < CHECK_EVERY_SECONDS or self._checking is not None:
            return
        self._checked = now
        self._checking = asyncio.get_running_loop().create_task(self._check())

    async def _check(self) -> None:
        try:
            await asyncio.to_thread(self.reload_if_changed)
        finally:
            self._checking = None

    def reload_if_changed(self) -> bool:
        """Loads the files when they changed (blocking: a thread calls it); returns
        whether a new certificate is in use."""
        try:
            signature = self._stat()
        except OSError as exc:
            self._refuse(None, f"cannot read it ({exc.strerror or exc})")
            return False
        if signature == self._signature or signature == self._refused:
            return False
        try:
            self.current = load(self.cert, self.key)
        except (ssl.SSLError, OSError):
            self._refuse(signature, "the files are not a PEM certificate chain and its "
                                    "private key")
            return False
        self._signature, self._refused = signature, None
        self.reloads += 1
        log.info("SMTP submission certificate reloaded from %s", self.cert)
        return True

    def _refuse(self, signature: Signature | None, why: str) -> None:
        if signature is None or signature != self._refused:
            log.warning("SMTP submission certificate %s not reloaded: %s; the previous one "
                        "stays in use", self.cert, why)
        self._refused = signature

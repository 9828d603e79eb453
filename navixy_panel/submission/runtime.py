"""The submission listener as one resource of the service (`serve`, `deliver`): on
while NAVIXY_PANEL_SUBMISSION_PORT or NAVIXY_PANEL_SUBMISSION_TLS_PORT is set.

It starts after the context exists and stops before it goes (and before the
delivery workers): new connections stop at once, idle sessions are told 421 and
closed, and a message being queued is given time to commit and be answered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from navixy_panel.http import keys
from navixy_panel.submission import log_masking
from navixy_panel.submission.handler import IDENT, MECHANISMS, Handler, SubmissionSMTP
from navixy_panel.submission.metrics import SubmissionMetrics
from navixy_panel.submission.tls import Certificates
from navixy_panel.usecases.context import Context

log = logging.getLogger(__name__)

# Sessions one instance holds at once; one more is told 421 and closed.
MAX_SESSIONS = 1000
# A client silent this long between commands (or slower than this over a whole
# DATA) is disconnected, as Postfix's smtpd_timeout does.
SESSION_TIMEOUT_SECONDS = 300.0
TLS_HANDSHAKE_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
SHUTTING_DOWN = "421 4.3.2 Service shutting down: try again later"


class ListenError(RuntimeError):
    """The listener could not take its port (taken, privileged, not an address here)."""


class Listener:
    def __init__(self, context: Context, metrics: SubmissionMetrics,
                 max_sessions: int = MAX_SESSIONS) -> None:
        settings = context.settings
        self.settings, self.metrics, self.max_sessions = settings, metrics, max_sessions
        self.handler = Handler(context, metrics)
        self.certificates = (None if settings.submission_tls_cert is None
                             or settings.submission_tls_key is None
                             else Certificates(settings.submission_tls_cert,
                                               settings.submission_tls_key))
        self.sessions: set[SubmissionSMTP] = set()
        self.servers: list[asyncio.Server] = []
        # The bound port of each kind ("starttls", "tls"): what port 0 became.
        self.ports: dict[str, int] = {}
        self.hostname = "localhost"

    def _protocol(self, starttls: bool) -> SubmissionSMTP:
        """`starttls`: offered on the plain port (not on the implicit TLS one)."""
        session = SubmissionSMTP(
            self.handler, listener=self, hostname=self.hostname, ident=IDENT,
            tls_context=(self.certificates.front if starttls and self.certificates
                         else None),
            data_size_limit=self.settings.message_max_bytes, auth_required=True,
            auth_require_tls=True, timeout=SESSION_TIMEOUT_SECONDS,
            loop=asyncio.get_running_loop())
        for name in [name for name in session._auth_methods if name not in MECHANISMS]:
            del session._auth_methods[name]
        return session

    def admit(self, session: SubmissionSMTP) -> bool:
        if len(self.sessions) >= self.max_sessions:
            return False
        self.sessions.add(session)
        self.metrics.session_opened()
        if self.certificates is not None:
            self.certificates.connection_opened()
        return True

    def release(self, session: SubmissionSMTP) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            self.metrics.session_closed()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Looked up once: aiosmtpd's default looks this machine's name up per connection.
        self.hostname = await asyncio.to_thread(socket.getfqdn)
        settings = self.settings
        front = None if self.certificates is None else self.certificates.front
        for kind, port, tls in (("starttls", settings.submission_port, None),
                                ("tls", settings.submission_tls_port, front)):
            if port is None:
                continue
            try:
                server = await loop.create_server(
                    functools.partial(self._protocol, tls is None),
                    host=list(settings.submission_hosts), port=port, ssl=tls,
                    reuse_port=settings.submission_reuse_port or None,
                    ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS if tls else None)
            except OSError as exc:
                await self.stop()
                variable = ("NAVIXY_PANEL_SUBMISSION_PORT" if kind == "starttls"
                            else "NAVIXY_PANEL_SUBMISSION_TLS_PORT")
                raise ListenError(
                    f"cannot listen for SMTP submission on "
                    f"{','.join(settings.submission_hosts)} port {port} "
                    f"({_reason(exc)}); choose another port with {variable}, or "
                    "other addresses with NAVIXY_PANEL_SUBMISSION_HOST") from None
            self.servers.append(server)
            self.ports[kind] = int(server.sockets[0].getsockname()[1])
        if self.certificates is None and not all(
                _is_loopback_host(host) for host in settings.submission_hosts):
            log.warning("SMTP submission listens beyond loopback without a certificate "
                        "(NAVIXY_PANEL_SUBMISSION_TLS_CERT/_KEY): only loopback clients can "
                        "authenticate")

    async def stop(self, grace: float = STOP_GRACE_SECONDS,
                   clock: Callable[[], float] = time.monotonic) -> None:
        for server in self.servers:
            server.close()
        await asyncio.gather(*(session.close_idle(SHUTTING_DOWN)
                               for session in list(self.sessions)))
        deadline = clock() + grace
        while (self.handler.pending or any(session.busy for session in self.sessions)
               ) and clock() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()


def _reason(error: OSError) -> str:
    """asyncio wraps a bind error in one whose text names the address again."""
    return os.strerror(error.errno) if error.errno else str(error)


def _is_loopback_host(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


SUBMISSION = web.AppKey("submission", Listener)


def submission_ctx(metrics: SubmissionMetrics
                   ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        if settings.submission_port is None and settings.submission_tls_port is None:
            yield
            return
        log_masking.install(settings.log_level)
        listener = Listener(app[keys.CONTEXT], metrics)
        await listener.start()
        app[SUBMISSION] = listener
        try:
            yield
        finally:
            await listener.stop()

    return ctx

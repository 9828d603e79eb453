"""The demo's SMTP sink: `serve --demo` listens on the ports its gateways point at
(127.0.0.1:1025 and :2525) and prints every message it receives, headers and
body, so a newcomer sees a test message arrive without installing anything.

It accepts any sender and recipient and keeps nothing. A port another program
already holds is reported in one warning line and skipped: test messages to
that port then go to whatever listens there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class _Printer:
    """aiosmtpd handler: prints the message and answers 250."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.content
        body = (content.decode("utf-8", "replace") if isinstance(content, bytes)
                else str(content))
        lines = [f"demo SMTP sink {HOST}:{self.port}: message from {envelope.mail_from} "
                 f"to {', '.join(envelope.rcpt_tos)}"]
        lines += ["  | " + line for line in body.replace("\r\n", "\n").rstrip("\n").split("\n")]
        print("\n".join(lines), flush=True)
        return "250 OK"


async def start(ports: Sequence[int]) -> list[asyncio.Server]:
    """Listens on each port it can (in the running loop); warns about the others."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    servers = []
    for port in ports:
        handler = _Printer(port)

        def protocol(handler: _Printer = handler) -> SMTP:
            # A fixed host name: the default looks up this machine's FQDN on every connection.
            return SMTP(handler, hostname="navixy-panel-demo-sink", loop=loop)

        try:
            servers.append(await loop.create_server(protocol, HOST, port))
        except OSError as exc:
            log.warning("demo SMTP sink not started on %s:%s (%s); test messages to the demo "
                        "gateway on that port go to whatever listens there", HOST, port,
                        exc.strerror or exc)
    return servers


async def stop(servers: Sequence[asyncio.Server]) -> None:
    for server in servers:
        server.close()
    for server in servers:
        await server.wait_closed()


def describe(servers: Sequence[asyncio.Server]) -> str | None:
    ports = [str(s.sockets[0].getsockname()[1]) for s in servers if s.sockets]
    if not ports:
        return None
    return (f"demo SMTP sink on {HOST} port {' and '.join(ports)} (the demo gateways): "
            "every message it receives is printed here")


def start_in_thread(ports: Sequence[int]) -> str | None:
    """For `serve --workers N`: the parent runs the sink on a loop of its own; the
    thread is a daemon and ends with the process. Returns the line to print."""
    ready = threading.Event()
    result: dict[str, str | None] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        servers = loop.run_until_complete(start(ports))
        result["line"] = describe(servers)
        ready.set()
        if servers:
            loop.run_forever()

    threading.Thread(target=run, name="demo-smtp-sink", daemon=True).start()
    ready.wait(10)
    return result.get("line")


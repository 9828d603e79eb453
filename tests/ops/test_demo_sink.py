"""The SMTP sink of `serve --demo`: what it prints, and a taken port."""

from __future__ import annotations

import asyncio
import socket

import pytest

from navixy_panel.cli import sink
from tests.support.net import free_ports


async def test_sink_prints_each_message_with_headers_and_body(
        capsys: pytest.CaptureFixture[str]) -> None:
    import aiosmtplib

    [port] = free_ports(1)
    servers = await sink.start([port])
    try:
        assert sink.describe(servers) == (
            f"demo SMTP sink on 127.0.0.1 port {port} (the demo gateways): every message "
            "it receives is printed here")
        message = ("From: a@dealer.example\r\nTo: ops@example.org\r\nSubject: hello\r\n\r\n"
                   "first line\r\nsecond line\r\n")
        errors, reply = await aiosmtplib.send(message, sender="a@dealer.example",
                                              recipients=["ops@example.org"],
                                              hostname="127.0.0.1", port=port)
        assert reply.startswith("OK") and not errors
    finally:
        await sink.stop(servers)
    assert capsys.readouterr().out.splitlines() == [
        f"demo SMTP sink 127.0.0.1:{port}: message from a@dealer.example to ops@example.org",
        "  | From: a@dealer.example",
        "  | To: ops@example.org",
        "  | Subject: hello",
        "  | ",
        "  | first line",
        "  | second line",
    ]


async def test_a_taken_port_is_one_warning_and_the_others_still_listen(
        caplog: pytest.LogCaptureFixture) -> None:
    taken_port, free_port = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        servers = await sink.start([taken_port, free_port])
        try:
            assert [s.sockets[0].getsockname()[1] for s in servers] == [free_port]
            assert sink.describe(servers) is not None
            _, writer = await asyncio.open_connection("127.0.0.1", free_port)
            writer.close()
        finally:
            await sink.stop(servers)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(f"demo SMTP sink not started on 127.0.0.1:{taken_port} (")
    assert sink.describe([]) is None

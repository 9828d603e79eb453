"""A client that sends its request head slowly cannot hold a connection for long."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from navixy_panel import logs

SLACK = 2.0  # the event loop's timer and this test's one-second steps


async def seconds_until_closed(client: TestClient, head: bytes, limit: float) -> float | None:
    """Sends `head` one byte a second; how long until the server closed the connection."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    started = loop.time()
    try:
        for byte in head:
            if loop.time() - started > limit:
                return None
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                if await asyncio.wait_for(reader.read(1), timeout=1.0) == b"":
                    return loop.time() - started
            except TimeoutError:
                continue
            except ConnectionError:
                return loop.time() - started
        return None
    finally:
        writer.close()


async def test_headers_sent_one_byte_a_second_are_cut_off_within_the_bound(
        client: TestClient) -> None:
    bound = logs.RUNNER_KWARGS["keepalive_timeout"]
    assert bound == logs.HEADER_TIMEOUT_SECONDS <= 30
    head = b"GET /health HTTP/1.1\r\nHost: panel.test\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    closed_after = await seconds_until_closed(client, head, limit=bound + 10)
    assert closed_after is not None, "the slow client was never cut off"
    assert bound - SLACK <= closed_after <= bound + SLACK

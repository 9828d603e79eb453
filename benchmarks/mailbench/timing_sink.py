"""An SMTP receiver that notes when each message arrived, for the rows that need to
know *which* message arrived and *when* (latency, fairness, the kill round).

    python timing_sink.py OUTPUT PORT [PORT...]

Postfix's smtp-sink counts messages (the throughput rows use it) but tells neither
which message a receipt was nor its time to better than a second (its `-d` dump files
carry an RFC 2822 date; a file's mtime ticks with the kernel's coarse clock), so these
rows use this one. For every message it writes one line to OUTPUT, flushed at once:
`<time.monotonic() at the 250> <port> <token>`, the token being the word after
`nvx-bench` in the Subject (`-` when there is none). CLOCK_MONOTONIC is one clock for
every process of the host, so the benchmark compares it with its own 202 times.

It speaks just enough SMTP for a client that pipelines and reuses connections (EHLO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT); it accepts every message, offers no TLS and no
AUTH, and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from typing import TextIO

_TOKEN = re.compile(rb"^Subject:[^\r\n]*?nvx-bench ([\w.-]+)", re.MULTILINE | re.IGNORECASE)
_EHLO = (b"250-timing-sink\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
         b"250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n")


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int,
                  out: TextIO) -> None:
    writer.write(b"220 timing-sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"LHLO"):
                writer.write(_EHLO)
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                found = _TOKEN.search(data[:8192])
                token = found.group(1).decode() if found else "-"
                writer.write(b"250 2.0.0 Ok: queued\r\n")
                out.write(f"{time.monotonic():.6f} {port} {token}\n")
                out.flush()
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP and anything else
                writer.write(b"250 2.0.0 Ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    finally:
        writer.close()


async def main(output: str, ports: list[int]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with open(output, "a", buffering=1) as out:
        servers = []
        for port in ports:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             port: int = port) -> None:
                await session(reader, writer, port, out)
            servers.append(await asyncio.start_server(handle, "127.0.0.1", port,
                                                      limit=1 << 20, backlog=512))
        print(f"listening on {ports}", flush=True)
        await stop.wait()
        for server in servers:
            server.close()


if __name__ == "__main__":
    arguments = main(sys.argv[1], [int(port) for port in sys.argv[2:]])
    try:
        import uvloop
    except ImportError:
        asyncio.run(arguments)
    else:
        uvloop.run(arguments)

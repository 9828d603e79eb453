"""Row N2: a naive sender, one new SMTP connection per message (connect, EHLO, MAIL,
RCPT, DATA, QUIT), as a notification engine does when it sends each message itself
(Webitel's engine does this). One process, CONCURRENCY messages in flight at once,
like the one service process of N1 with its HTTP clients.

    python naive.py MESSAGES CONCURRENCY PORT [PORT...]

Message n goes to PORT[n % len(PORTS)] with a 1 KB text body; it prints the seconds
from the first connection to the last QUIT and the number of failures. It reads no
queue and decides no route, so it is faster than a real naive sender would be: N1's
ratio to it is a floor.
"""

from __future__ import annotations

import asyncio
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

BODY = ("Your vehicle left the geofence at 12:00. " * 26)[:1024]


async def send_all(messages: int, concurrency: int, ports: list[int]) -> tuple[float, int]:
    numbers = iter(range(messages))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for n in numbers:
            message = EmailMessage()
            message["From"] = "alerts@dealer.example"
            message["To"] = f"customer{n}@example.com"
            message["Subject"] = f"nvx-bench naive-{n}"
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = make_msgid(domain="dealer.example")
            message.set_content(BODY)
            try:
                await aiosmtplib.send(message, hostname="127.0.0.1",
                                      port=ports[n % len(ports)], start_tls=False,
                                      use_tls=False, timeout=30)
            except (aiosmtplib.SMTPException, OSError):
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started, failures


if __name__ == "__main__":
    count, parallel = int(sys.argv[1]), int(sys.argv[2])
    run = send_all(count, parallel, [int(port) for port in sys.argv[3:]])
    try:
        import uvloop
    except ImportError:
        seconds, failed = asyncio.run(run)
    else:
        seconds, failed = uvloop.run(run)
    print(f"{seconds:.6f} {failed}", flush=True)

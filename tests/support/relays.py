"""A relay that watches the delivery workers from the receiving end: every message
as it arrives (Message-ID, subject, when), how many SMTP sessions are open at once,
and DATA held back for chosen messages, as a slow or stalling server does.

It is an aiosmtpd server in a thread of the test process, so its clock is the
test's (`time.monotonic()`), whichever process delivers to it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.net import free_port


@dataclass(frozen=True, slots=True)
class Arrival:
    message_id: str
    subject: str
    at: float  # time.monotonic() when the whole message was in


class Watcher:
    """aiosmtpd handler. A message is recorded as soon as its DATA is complete, before
    any hold-up and before the reply, as a real relay has it queued by then: a client
    that dies while waiting for the 250 leaves a message the relay has."""

    def __init__(self, *, data_seconds: float = 0.0,
                 stall: Callable[[str], bool] | None = None,
                 stall_seconds: float = 0.0) -> None:
        self.data_seconds = data_seconds  # every message's wait before the reply
        self.stall, self.stall_seconds = stall, stall_seconds  # by subject, in addition
        self.arrivals: list[Arrival] = []
        self.open = 0
        self.peak = 0
        self.sessions = 0
        self._lock = threading.Lock()
        self._parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self._parser.parsebytes(envelope.content)
        subject = str(headers["Subject"] or "")
        self.arrivals.append(Arrival(str(headers["Message-ID"]), subject, time.monotonic()))
        delay = self.data_seconds
        if self.stall is not None and self.stall(subject):
            delay += self.stall_seconds
        if delay:
            await asyncio.sleep(delay)
        return "250 2.0.0 OK queued"

    def opened(self) -> None:
        with self._lock:
            self.open += 1
            self.sessions += 1
            self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        with self._lock:
            self.open -= 1

    def reset_peak(self) -> None:
        """Forgets the sessions so far (aiosmtpd's own check that it started is one)."""
        with self._lock:
            self.peak, self.sessions = self.open, 0

    def count(self) -> int:
        return len(self.arrivals)

    def copies(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        return Counter(arrival.message_id for arrival in list(self.arrivals))

    def subjects(self) -> list[str]:
        return [arrival.subject for arrival in list(self.arrivals)]

    def first(self, subject: str) -> tuple[int, Arrival] | None:
        """The first arrival with this subject, and how many messages came before it."""
        for index, arrival in enumerate(list(self.arrivals)):
            if arrival.subject == subject:
                return index, arrival
        return None


class _CountingSMTP(SMTP):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.event_handler.opened()

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.event_handler.closed()


class _CountingController(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


@contextlib.contextmanager
def watching_relay(watcher: Watcher) -> Iterator[int]:
    """The relay on a free loopback port (yielded); stopped afterwards."""
    port = free_port()
    controller = _CountingController(watcher, hostname="127.0.0.1", port=port)
    controller.start()
    deadline = time.monotonic() + 2  # aiosmtpd's own check that it started: not counted
    while watcher.open and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.reset_peak()
    try:
        yield port
    finally:
        controller.stop()

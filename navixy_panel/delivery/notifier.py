"""Waking the delivery workers of every instance after submissions commit.

One NOTIFY per submission, inside its transaction, would serialize every
submission's commit on PostgreSQL's notification lock (see
`services.queue.insert_message`). Instead the instance that took the message wakes
its own workers at once, in memory, and tells the others with at most one NOTIFY
per `EVERY` seconds, sent on its own connection to the direct database URL (never a
pooled one) outside any submission's transaction. Another instance may so hear of
a message up to `EVERY` later; it would find it at its next poll anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from navixy_panel.usecases.delivery import WAKE_CHANNEL

log = logging.getLogger(__name__)

EVERY = 0.05


class Notifier:
    def __init__(self, dsn: str, local: Callable[[], None] = lambda: None) -> None:
        self.dsn, self.local = dsn, local
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self.local()
        self._poked.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-notify")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        connection: asyncpg.Connection | None = None
        try:
            while True:
                await self._poked.wait()
                self._poked.clear()
                try:
                    if connection is None or connection.is_closed():
                        connection = await asyncpg.connect(self.dsn, timeout=5)
                    await connection.execute(f"NOTIFY {WAKE_CHANNEL}")
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.debug("delivery wake-up not sent: %s", type(exc).__name__)
                    connection = None
                await asyncio.sleep(EVERY)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

"""In-process caches for the hot path (sessions, serialized gateway lists), kept
correct across instances by PostgreSQL LISTEN/NOTIFY.

Rules, all tested with two app instances on one database:
- the instance that writes clears its caches as soon as the write commits;
- every instance clears them when `navixy_panel_changes` arrives (database
  triggers send it for any write, whoever makes it), well within a second;
- while the notification connection is down, caches are dropped and bypassed,
  and used again only after LISTEN is re-established.

Invalidation is all-or-nothing: writes are rare next to list calls, and a
coarse rule is one that cannot miss a dependency (a parent's gateway edit
changes its sub-dealers' lists too).

A read that started before a clear must not store its (possibly stale) result
after it: `generation` is captured before the read and checked at store time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "navixy_panel_changes"
K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries past `limit` (memory stays bounded)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self.data.get(key)

    def put(self, key: K, value: V) -> None:
        self.data[key] = value
        if len(self.data) > self.limit:
            self.data.popitem(last=False)


class Caches:
    def __init__(self, limit: int = 50_000) -> None:
        self.sessions: Bounded[bytes, Any] = Bounded(limit)
        self.lists: Bounded[int, bytes] = Bounded(limit)
        self.generation = 0
        self.enabled = False  # until LISTEN is established

    def clear(self) -> None:
        self.generation += 1
        self.sessions.data.clear()
        self.lists.data.clear()

    def disable(self) -> None:
        self.enabled = False
        self.clear()

    def enable(self) -> None:
        self.clear()
        self.enabled = True

    def store(self, table: Bounded[Any, Any], generation: int, key: Any, value: Any) -> None:
        """Stores only if no clear happened since `generation` was read."""
        if self.enabled and generation == self.generation:
            table.put(key, value)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(caches: Caches, dsn: str, check_every: float) -> None:
    """Keeps one LISTEN connection; any loss disables the caches until it is back."""
    backoff = 0.1
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(
                dsn, timeout=5, server_settings={"application_name": "navixy-panel-listener"})
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            await connection.add_listener(CHANNEL, lambda *_: caches.clear())
            caches.enable()
            log.info("cache invalidation listener connected")
            backoff = 0.1
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check_every)
                if not lost.is_set():  # a silent network loss shows up here
                    await connection.fetchval("SELECT 1", timeout=check_every)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: bypass caches and retry
            log.warning("cache invalidation listener lost (%s); caches bypassed",
                        type(exc).__name__)
        finally:
            caches.disable()
            if connection is not None and not connection.is_closed():
                connection.terminate()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)

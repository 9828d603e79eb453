"""In-process caches for the hot path (sessions, serialized gateway lists), kept
correct across instances by PostgreSQL LISTEN/NOTIFY.

Callers see one operation, `get_or_load`; whether caching is on, and the race
between a read and a concurrent invalidation, are handled here:
- a use case reports what its commit changed (`Changes`), and this instance
  evicts exactly the entries that depend on it, at once;
- every instance also hears `navixy_panel_changes` (database triggers send it
  for any write, whoever makes it) and evicts what the notification names;
- while the notification connection is down, nothing is cached or served from
  cache, until LISTEN is re-established.

Entries carry tags (the dealer an entry describes, its parent), so one change
evicts the entries of the dealers it concerns and leaves the rest in place.

A load that overlaps any invalidation is returned but not stored: it may have
read the database before the write committed. `_epoch` counts invalidations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from navixy_panel.domain.caller import Caller

log = logging.getLogger(__name__)

CHANNEL = "navixy_panel_changes"
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Tags: ("dealer", id) for an entry about that dealer, ("parent", id) for an entry
# that shows what that dealer leases to its children.
Tag = tuple[str, object]


@dataclass(slots=True)
class Changes:
    """What a committed unit of work changed, as far as cached answers go."""

    dealers: set[int] = field(default_factory=set)
    """Dealers whose own answers changed (their gateways, binding, permissions)."""
    children_of: set[int] = field(default_factory=set)
    """Dealers whose leasable offer changed: their direct children's lists change."""
    sessions: set[bytes] = field(default_factory=set)
    """Ended sessions, by digest."""
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.dealers or self.children_of or self.sessions or self.everything)

    def tags(self) -> list[Tag]:
        return ([("dealer", d) for d in self.dealers]
                + [("parent", p) for p in self.children_of]
                + [("session", s) for s in self.sessions])


class KeyedCache(Generic[K, V]):
    """A bounded LRU map with a tag index; the oldest entries go past `limit`."""

    def __init__(self, owner: Caches, limit: int) -> None:
        self._owner = owner
        self._limit = limit
        self._data: OrderedDict[K, tuple[V, tuple[Tag, ...]]] = OrderedDict()
        self._by_tag: dict[Tag, set[K]] = {}

    def __len__(self) -> int:
        return len(self._data)

    def peek(self, key: K) -> V | None:
        """The cached value, without loading (None when absent or caching is off)."""
        if not self._owner.enabled:
            return None
        entry = self._data.get(key)
        return None if entry is None else entry[0]

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]],
                          tags: Callable[[V], Iterable[Tag]]) -> V | None:
        """The cached value, else `load()` (stored only if nothing was invalidated
        meanwhile). A None from `load` is never cached."""
        owner = self._owner
        if owner.enabled:
            entry = self._data.get(key)
            if entry is not None:
                return entry[0]
        epoch = owner.epoch
        value = await load()
        if value is not None:
            self.store(key, value, tuple(tags(value)), epoch)
        return value

    def store(self, key: K, value: V, tags: tuple[Tag, ...], epoch: int) -> None:
        """Stores a value read after `epoch` was taken, unless an invalidation came since."""
        if self._owner.enabled and epoch == self._owner.epoch:
            self._put(key, value, tags)

    def _put(self, key: K, value: V, tags: tuple[Tag, ...]) -> None:
        self._discard(key)
        self._data[key] = (value, tags)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._data) > self._limit:
            self._discard(next(iter(self._data)))

    def _discard(self, key: K) -> None:
        entry = self._data.pop(key, None)
        if entry is None:
            return
        for tag in entry[1]:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]

    def evict_tags(self, tags: Iterable[Tag]) -> None:
        for tag in tags:
            for key in list(self._by_tag.get(tag, ())):
                self._discard(key)

    def clear(self) -> None:
        self._data.clear()
        self._by_tag.clear()


class Caches:
    """The hot path's caches, and the one place that invalidates them."""

    def __init__(self, limit: int = 50_000) -> None:
        self._epoch = 0
        self.enabled = False  # until LISTEN is established
        self.sessions: KeyedCache[str, Caller] = KeyedCache(self, limit)
        self.lists: KeyedCache[int, bytes] = KeyedCache(self, limit)

    @property
    def epoch(self) -> int:
        """Take it before a read whose result is to be stored (see `KeyedCache.store`)."""
        return self._epoch

    def invalidate(self, changes: Changes) -> None:
        if not changes:
            return
        self._epoch += 1
        if changes.everything:
            self._clear_all()
            return
        tags = changes.tags()
        self.sessions.evict_tags(tags)
        self.lists.evict_tags(tags)

    def invalidate_all(self) -> None:
        self.invalidate(Changes(everything=True))

    def _clear_all(self) -> None:
        self.sessions.clear()
        self.lists.clear()

    def disable(self) -> None:
        self.enabled = False
        self.invalidate_all()

    def enable(self) -> None:
        self.invalidate_all()
        self.enabled = True


def parse(payload: str) -> Changes:
    """A notification from the triggers of migration 0004: `d:1,2;p:5`, `s:<hex>,…`
    or `*`. Anything else (an older schema's table names) means everything."""
    changes = Changes()
    try:
        for part in payload.split(";"):
            kind, _, values = part.partition(":")
            items = [v for v in values.split(",") if v]
            if kind == "d":
                changes.dealers.update(int(v) for v in items)
            elif kind == "p":
                changes.children_of.update(int(v) for v in items)
            elif kind == "s":
                changes.sessions.update(bytes.fromhex(v) for v in items)
            else:
                changes.everything = True
    except ValueError:
        changes.everything = True
    return changes


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
            await connection.add_listener(
                CHANNEL, lambda _c, _pid, _channel, payload: caches.invalidate(parse(payload)))
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

"""Two app instances on one database, and what the cache tests measure: statements
sent, and how soon a write made on one instance is seen on the other."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import asyncpg
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from navixy_panel.cache import Caches
from navixy_panel.http import keys
from navixy_panel.services.hot_path import ReadPool
from tests.support.api import Api


def caches_of(api: Api) -> Caches:
    return api.client.app[keys.CONTEXT].caches


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Polls until `check` holds; returns how long it took (fails past `within`)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, "not within the time limit"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def instances(make_client, db, **settings: Any) -> tuple[Api, Api]:  # type: ignore[no-untyped-def]
    first = Api(await make_client(**settings), db)
    second = Api(await make_client(**settings), db)
    for api in (first, second):  # LISTEN is established shortly after start
        await eventually(lambda api=api: asyncio.sleep(0, caches_of(api).enabled), within=5)
    return first, second


class _CountedConnection:
    """An asyncpg connection whose statements are counted."""

    def __init__(self, connection: Any, seen: Callable[[], None]) -> None:
        self._connection = connection
        self._seen = seen

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._seen()
        return await self._connection.fetch(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # another statement kind would not be counted
        raise AttributeError(f"{name}: not counted by the test's pool")


class _CountedPool:
    """The list path's asyncpg pool, lending connections whose statements are counted."""

    def __init__(self, pool: Any, seen: Callable[[], None]) -> None:
        self._pool = pool
        self._seen = seen

    @contextlib.asynccontextmanager
    async def acquire(self, *, timeout: float | None = None) -> AsyncIterator[Any]:
        async with self._pool.acquire(timeout=timeout) as connection:
            yield _CountedConnection(connection, self._seen)


class StatementCounter:
    """Statements sent by one app: through SQLAlchemy, and on the list path's own
    asyncpg pool (this app's context is given a counting pool; no other app's is)."""

    def __init__(self, client: TestClient) -> None:
        self.count = 0
        self.engine = client.app[keys.ENGINE].sync_engine
        event.listen(self.engine, "before_cursor_execute", self.seen)
        self.context = client.app[keys.CONTEXT]
        self.reads = self.context.pool
        assert self.reads is not None
        self.context.pool = ReadPool(cast(asyncpg.Pool, _CountedPool(self.reads.pool, self.seen)),
                                     self.reads.wait_seconds)

    def seen(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)
        self.context.pool = self.reads


async def list_of(api: Api, h: str) -> dict[str, Any]:
    return await api.ok("gateways/email/list", hash=h)

"""Two app instances on one database, and what the cache tests measure: statements
sent, and how soon a write made on one instance is seen on the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from navixy_panel.cache import Caches
from navixy_panel.http import keys
from navixy_panel.services import hot_path
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


class StatementCounter:
    """Statements sent by one app: through SQLAlchemy, and on the list path's own
    asyncpg pool (every statement there goes through `hot_path._fetch`)."""

    def __init__(self, client: TestClient) -> None:
        self.count = 0
        self.engine = client.app[keys.ENGINE].sync_engine
        self.pool = client.app[keys.READ_POOL]
        event.listen(self.engine, "before_cursor_execute", self.seen)
        self.original_fetch = hot_path._fetch

        async def counted(reads: Any, query: str, *args: Any) -> Any:
            if reads.pool is self.pool:
                self.seen()
            return await self.original_fetch(reads, query, *args)

        hot_path._fetch = counted  # type: ignore[assignment]

    def seen(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)
        hot_path._fetch = self.original_fetch  # type: ignore[assignment]


async def list_of(api: Api, h: str) -> dict[str, Any]:
    return await api.ok("gateways/email/list", hash=h)

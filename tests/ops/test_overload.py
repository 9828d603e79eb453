"""Overload is not an error: a request that cannot get a pooled database connection in
time is answered "retry later" (Navixy code 14, HTTP 503; Webitel 503), never code 6.

Both pools are held by the test itself, so the service finds none free."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient

from navixy_panel.http import keys
from tests.support.api import Api
from tests.support.webitel import SETTINGS, dealer_session

UNAVAILABLE = {"success": False, "status": {"code": 14, "description": "Database unavailable"}}


@asynccontextmanager
async def pools_held(client: TestClient) -> AsyncIterator[None]:
    """Checks out every connection of both of the app's pools until the block ends."""
    read_pool = client.app[keys.READ_POOL]
    engine = client.app[keys.ENGINE]
    async with AsyncExitStack() as stack:
        for _ in range(read_pool.get_max_size()):
            await stack.enter_async_context(read_pool.acquire())
        pool: Any = engine.sync_engine.pool
        for _ in range(pool.size() + pool._max_overflow):
            await stack.enter_async_context(engine.connect())
        yield


async def test_list_without_a_free_connection_is_code_14(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(cache_enabled=False, db_pool_wait_seconds=0.3), db)
    await api.dealer("d1")
    h = await api.login("d1")
    async with pools_held(api.client):
        started = time.monotonic()
        assert await api.error("gateways/email/list", 14, 503, hash=h) == UNAVAILABLE
        assert time.monotonic() - started < 2
        # A write waits for the other pool, with the same answer.
        assert await api.error("gateways/email/bind", 14, 503, hash=h,
                               form={"gateway_id": "1"}) == UNAVAILABLE
    await api.ok("gateways/email/list", hash=h)  # and it recovers at once


async def test_webitel_without_a_free_connection_is_503(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(cache_enabled=False, db_pool_wait_seconds=0.3), db)
    _, (key, token) = await dealer_session(api)
    async with pools_held(api.client):
        response = await api.client.get(SETTINGS, headers={"X-Key": key,
                                                           "X-Access-Token": token})
        assert (response.status, await response.json()) == (
            503, {"status": "error", "info": "Database unavailable"})

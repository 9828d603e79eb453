"""/health and /ready for load balancers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def test_health(client: TestClient) -> None:
    response = await client.get("/health")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_ready_checks_the_database(client: TestClient) -> None:
    response = await client.get("/ready")
    assert (response.status, await response.json()) == (200, {"status": "ok", "database": "ok"})

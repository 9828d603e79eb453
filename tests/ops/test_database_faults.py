"""PostgreSQL stops under load: code 14 within 2 s, /ready 503, the process
stays up, service resumes by itself, and no acknowledged write is lost."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from navixy_panel.app import create_app
from navixy_panel.db import migrate
from navixy_panel.db.embedded import EmbeddedPostgres
from navixy_panel.settings import Settings
from tests.support.api import Api
from tests.support.database import TEST_DIR_PREFIX, LoggedTestServer


@pytest.fixture
def own_server() -> Any:
    """A PostgreSQL of this test's own, since the test stops it."""
    folder = Path(tempfile.mkdtemp(prefix=TEST_DIR_PREFIX + "faults-"))
    server = EmbeddedPostgres(folder)
    url = server.start()
    migrate.upgrade(url)
    try:
        yield server, url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_database_outage_and_recovery(own_server: Any, aiohttp_client: Any) -> None:
    server, url = own_server
    settings = Settings(database_url=url, migrate_on_start=False,
                        secret_keys=(Fernet.generate_key().decode(),))
    engine = create_async_engine(url, pool_pre_ping=True)  # survives the restart too
    api = Api(await aiohttp_client(LoggedTestServer(create_app(settings))),
              async_sessionmaker(engine, expire_on_commit=False))
    await api.dealer("d1")
    h = await api.login("d1")
    acknowledged: list[str] = []
    during_outage: list[tuple[int, int, float]] = []
    outage = asyncio.Event()
    stop = asyncio.Event()

    async def writer(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            label = f"w{worker}-{n}"
            gateway = {"label": label, "provider": "smtp",
                       # A public address literal: a name would be looked up when saved
                       # (the destination policy), and this sandbox's resolver sometimes
                       # takes its whole 2 s time-out, which is not what is measured here.
                       "params": {"mail.smtp.host": "93.184.216.34"}}
            started = time.monotonic()
            status, body = await api.call("gateways/email/create", hash=h,
                                          json={"gateway": gateway})
            elapsed = time.monotonic() - started
            if status == 200:
                acknowledged.append(label)
            elif outage.is_set():
                during_outage.append((status, body["status"]["code"], elapsed))
            await asyncio.sleep(0.01)

    async def reader() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, body = await api.call("gateways/email/list", hash=h)
            if status != 200 and outage.is_set():
                during_outage.append((status, body["status"]["code"],
                                      time.monotonic() - started))
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(writer(i)) for i in range(3)] + [asyncio.create_task(reader())]
    await asyncio.sleep(0.5)
    await asyncio.to_thread(server.interrupt)
    outage.set()
    await asyncio.sleep(2.0)
    ready = await api.client.get("/ready")
    assert (ready.status, await ready.json()) == (
        503, {"status": "unavailable", "database": "unreachable"})
    await asyncio.to_thread(server.resume)
    outage.clear()
    recovered_at = time.monotonic()
    while (await api.call("gateways/email/list", hash=h))[0] != 200:
        assert time.monotonic() - recovered_at < 10, "no recovery without a restart"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)

    assert during_outage, "the outage produced no refused request"
    assert {(status, code) for status, code, _ in during_outage} == {(503, 14)}
    assert max(elapsed for _, _, elapsed in during_outage) < 2.0
    assert (await api.client.get("/ready")).status == 200
    async with engine.connect() as connection:
        stored = set((await connection.execute(text("SELECT label FROM email_gateways"))
                      ).scalars())
    assert set(acknowledged) <= stored  # every acknowledged write survived
    await engine.dispose()

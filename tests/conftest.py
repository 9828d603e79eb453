"""Test fixtures: a real PostgreSQL built by the alembic migrations, a fresh app per test.

The server is the embedded one, started once per test run in a temporary
folder and stopped (and deleted) at the end, or the one in TEST_DATABASE_URL.
Each test starts from empty tables (TRUNCATE), which is much faster than a new
database and just as isolating for tests that run one at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from navixy_panel.app import create_app
from navixy_panel.db import migrate
from navixy_panel.db.embedded import EmbeddedPostgres, stop_orphans
from navixy_panel.navixy.actions import Action
from navixy_panel.navixy.routes import ACTIONS
from navixy_panel.settings import LOOPBACK_NETWORKS, Settings
from tests.support.api import Api
from tests.support.database import (
    TEST_DIR_PREFIX,
    TEST_KEY,
    LoggedTestServer,
    empty_tables,
    new_database,
)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server URL (asyncpg flavour) for the whole run."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield Settings.from_env({"DATABASE_URL": given}).database_url or given
        return
    stop_orphans(TEST_DIR_PREFIX)  # a killed earlier run cannot stop its own server
    folder = Path(tempfile.mkdtemp(prefix=TEST_DIR_PREFIX))
    server = EmbeddedPostgres(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def create_database(server_url: str):  # type: ignore[no-untyped-def]
    """Factory: a new empty database on the test server, returned as a URL."""

    def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        return asyncio.run(new_database(server_url, name))

    return create


@pytest.fixture(scope="session")
def database_url(create_database) -> str:  # type: ignore[no-untyped-def]
    url: str = create_database("navixy_test")
    migrate.upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The suite's SMTP servers listen on loopback, which the destination policy refuses
    # by default (tests/mail/test_smtp_destinations.py builds apps that do not open it).
    return Settings(database_url=database_url, migrate_on_start=False, secret_keys=(TEST_KEY,),
                    login_failures_per_login=1000, login_failures_per_address=1000,
                    smtp_allowed_networks=LOOPBACK_NETWORKS,
                    # Delivery tests turn the workers on (make_client(deliver=True)); the
                    # rest count statements and must not see the dispatcher's.
                    deliver=False)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Direct database access for arranging data and checking what a request changed."""
    await empty_tables(database_url)
    engine = create_async_engine(database_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
async def client(aiohttp_client, settings: Settings, db) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(LoggedTestServer(create_app(settings)))


@pytest.fixture
def make_client(aiohttp_client, settings: Settings, db):  # type: ignore[no-untyped-def]
    """A client on an app built with changed settings; with `navixy_actions` as its
    Navixy face's action table and `routes` added, when a test needs a handler of its
    own (one that fails, or takes too long)."""

    async def make(*, navixy_actions: Mapping[str, Action] = ACTIONS,
                   routes: Iterable[web.AbstractRouteDef] = (),
                   **changes: object) -> TestClient:
        app = create_app(dataclasses.replace(settings, **changes), navixy_actions)
        app.router.add_routes(routes)
        return await aiohttp_client(LoggedTestServer(app))

    return make


@pytest.fixture
def api(client: TestClient, db) -> Api:  # type: ignore[no-untyped-def]
    return Api(client, db)

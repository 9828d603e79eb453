"""The test database and the test app's server, shared by the fixtures in
tests/conftest.py and by tests that start servers of their own."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from navixy_panel import logs

# Every folder a test creates starts with this, so that a killed run's servers can
# be found and stopped by the next run (navixy_panel.db.embedded.stop_orphans).
TEST_DIR_PREFIX = "navixy-panel-test-"
TEST_KEY = Fernet.generate_key().decode()
TABLES = ("audit_events, rate_counters, sessions, mail_messages, submission_keys, gateway_slots, "
          "gateway_health, dealers, email_gateways")


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def new_database(server_url: str, name: str) -> str:
    """A new empty database `name` on the server (dropped first if it exists), as a URL."""
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def empty_tables(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


class LoggedTestServer(TestServer):
    """TestServer drops runner options, so the production access logger is put in here."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return web.AppRunner(self.app, **logs.RUNNER_KWARGS, **kwargs)

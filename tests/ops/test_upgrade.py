"""Upgrades (docs/production.md): `migrate`, then restart the instances one by one.
Meanwhile the instances of the previous release meet a newer schema: those running
keep serving; one (re)started refuses in one line, unless told --no-migrate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from navixy_panel.cache import asyncpg_dsn
from navixy_panel.db import migrate
from tests.support.api import Api
from tests.support.net import free_port
from tests.support.processes import wait_until_ready

# What a newer release's migration may do within the upgrade rule: add a nullable
# column and a table, and record a revision this code does not know.
NEWER_SCHEMA = """
ALTER TABLE email_gateways ADD COLUMN delivery_priority integer;
CREATE TABLE delivery_queue (id bigserial PRIMARY KEY, gateway_id bigint);
UPDATE alembic_version SET version_num = '2099_01_01_0001';
"""
GATEWAY = {"label": "relay", "provider": "smtp", "params": {"mail.smtp.host": "smtp.example"}}
REFUSAL = ("navixy-panel: the database schema is at revision 2099_01_01_0001, which this "
           "navixy-panel does not know (its latest is {head}): a newer release has migrated "
           "it; install that release here too (--no-migrate starts this one on the newer "
           "schema)\n")


async def newer_schema(url: str) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        head = str(await connection.fetchval("SELECT version_num FROM alembic_version"))
        await connection.execute(NEWER_SCHEMA)
        return head
    finally:
        await connection.close()


def navixy_panel(*args: str, url: str, key: str) -> subprocess.Popen[str]:
    environment = {**{k: v for k, v in os.environ.items() if k != "NAVIXY_PANEL_DATA_DIR"},
                   "DATABASE_URL": url, "NAVIXY_PANEL_SECRET_KEY": key}
    return subprocess.Popen([sys.executable, "-m", "navixy_panel", *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_the_previous_release_meets_a_newer_schema(make_client, settings,  # type: ignore[no-untyped-def]
                                                         create_database) -> None:
    url = await asyncio.to_thread(create_database, "navixy_upgrade")
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_async_engine(url)
    try:
        running = Api(await make_client(database_url=url),
                      async_sessionmaker(engine, expire_on_commit=False))
        await running.dealer("d1")
        h = await running.login("d1")
        first = await running.ok("gateways/email/create", hash=h, json={"gateway": GATEWAY})
        head = await newer_schema(url)
        # The running instance of the previous release keeps working on the newer schema.
        second = await running.ok("gateways/email/create", hash=h, json={"gateway": GATEWAY})
        listed = await running.ok("gateways/email/list", hash=await running.login("d1"))
        assert [g["id"] for g in listed["own"]] == [first["id"], second["id"]]
    finally:
        await engine.dispose()
    key = settings.secret_keys[0]

    for command in (["serve", "--port", str(free_port())], ["migrate"]):
        process = navixy_panel(*command, url=url, key=key)
        stdout, stderr = process.communicate(timeout=60)
        assert (process.returncode, stderr) == (2, REFUSAL.format(head=head)), stdout

    port = free_port()
    process = navixy_panel("serve", "--port", str(port), "--no-migrate", url=url, key=key)
    try:
        answer = await asyncio.to_thread(wait_until_ready, process, port, within=30)
        assert answer == {"status": "ok", "database": "ok"}
    finally:
        process.terminate()
        process.communicate(timeout=40)
    assert process.returncode == 0

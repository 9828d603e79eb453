"""The service, its migrations and its tests as a PostgreSQL role that is not a
superuser: LOGIN and CREATEDB only (the suite creates a database per run and a few
per test, as `CREATE DATABASE`, and owns them). In production the role needs less:
ownership of its one database (docs/production.md).

A part of the suite (or all of it, NAVIXY_PANEL_TEST_UNPRIVILEGED=all) runs in a
child pytest with TEST_DATABASE_URL set to such a role on the session's server.
The child sees a role without superuser rights and skips this test, so it does not
recurse.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from navixy_panel.cache import asyncpg_dsn

ROOT = Path(__file__).resolve().parents[2]
# Found by name wherever the test layout puts them: migrations (triggers, functions),
# the API faces end to end with SMTP sends and audit, caches with LISTEN/NOTIFY, login
# limits under concurrency, PgBouncer, the restore drill (pg_dump as this role).
PART = ("test_migrations.py", "test_gateway_lifecycle.py", "test_audit.py", "test_webitel.py",
        "test_cache.py", "test_login_concurrency.py", "test_pgbouncer.py",
        "test_restore_drill.py")


async def _is_superuser(url: str) -> bool:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return bool(await connection.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    finally:
        await connection.close()


@pytest.fixture
def unprivileged_url(server_url: str) -> Iterator[str]:
    """A new role with LOGIN and CREATEDB on the session's server, as a URL; dropped
    afterwards with the databases it created."""
    if not asyncio.run(_is_superuser(server_url)):
        pytest.skip("the test server's role is not a superuser (this is the unprivileged "
                    "run itself, or TEST_DATABASE_URL cannot create roles)")
    role = f"navixy_unprivileged_{secrets.token_hex(4)}"
    password = secrets.token_hex(16)

    async def admin(*statements: str) -> list[str]:
        connection = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            for statement in statements:
                await connection.execute(statement)
            return [row[0] for row in await connection.fetch(
                "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                "WHERE r.rolname = $1", role)]
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE ROLE {role} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE "
                      f"PASSWORD '{password}'"))
    try:
        yield make_url(server_url).set(username=role, password=password).render_as_string(
            hide_password=False)
    finally:
        owned = asyncio.run(admin())
        asyncio.run(admin(*(f'DROP DATABASE "{name}" WITH (FORCE)' for name in owned),
                          f"DROP ROLE {role}"))


def _part() -> list[str]:
    if os.environ.get("NAVIXY_PANEL_TEST_UNPRIVILEGED") == "all":
        return ["tests"]
    found = [str(path.relative_to(ROOT)) for name in PART
             for path in sorted((ROOT / "tests").rglob(name))]
    assert found, "none of the test files of the part were found"
    return found


@pytest.mark.unprivileged_role
def test_the_suite_as_a_role_without_superuser(unprivileged_url: str) -> None:
    async def rights() -> tuple[bool, bool, bool]:
        connection = await asyncpg.connect(asyncpg_dsn(unprivileged_url))
        try:
            row = await connection.fetchrow(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user")
            return row[0], row[1], row[2]
        finally:
            await connection.close()

    assert asyncio.run(rights()) == (False, True, False)
    environment = {**os.environ, "TEST_DATABASE_URL": unprivileged_url}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *_part()],
                          cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=1800, check=False)
    summary = done.stdout.strip().rsplit("\n", 1)[-1]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary

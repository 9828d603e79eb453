"""The schema comes only from alembic: upgrade, downgrade, upgrade again (stairway)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
from alembic.script import ScriptDirectory

from navixy_panel.db import migrate
from tests.support.database import asyncpg_dsn


def tables(url: str) -> set[str]:
    async def read() -> set[str]:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await connection.close()
        return {r["tablename"] for r in rows}

    return asyncio.run(read())


def test_stairway(create_database) -> None:  # type: ignore[no-untyped-def]
    url = create_database("navixy_stairway")
    cfg = migrate.alembic_config(url)
    revisions = list(reversed(list(ScriptDirectory.from_config(cfg).walk_revisions())))
    assert revisions, "no migrations found"
    for revision in revisions:
        migrate.upgrade(url, revision.revision)
        migrate.downgrade(url, revision.down_revision or "base")
        migrate.upgrade(url, revision.revision)
    assert tables(url) >= {"alembic_version", "dealers", "email_gateways", "sessions",
                           "rate_counters"}
    migrate.downgrade(url, "base")
    assert tables(url) == {"alembic_version"}
    migrate.upgrade(url, "head")


def test_two_instances_migrating_at_once(create_database) -> None:  # type: ignore[no-untyped-def]
    """Separate processes, as two service instances would be: the advisory lock
    serialises them, all succeed and the schema is at head."""
    url = create_database("navixy_race")
    script = "import sys; from navixy_panel.db import migrate; migrate.upgrade(sys.argv[1])"
    processes = [subprocess.Popen([sys.executable, "-c", script, url],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert "dealers" in tables(url)

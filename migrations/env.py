"""Alembic environment: async engine, URL from the caller or DATABASE_URL.

Upgrades take a PostgreSQL advisory lock first, so several instances starting
at once against one database migrate one after the other; the later ones find
the schema at head and do nothing.
"""

import asyncio
import logging.config

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from navixy_panel.db.migrate import SchemaTooNew
from navixy_panel.db.models import Base
from navixy_panel.db.pooling import ONE_SHOT_CONNECT_ARGS
from navixy_panel.settings import Settings

# Arbitrary constant shared by every instance of this service.
MIGRATION_LOCK_ID = 0x6E61_7669_7879

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or Settings.from_env().database_url
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set; use `navixy-panel migrate` for the embedded database"
        )
    return url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        refuse_newer_schema()
        context.run_migrations()


def refuse_newer_schema() -> None:
    """A revision this code does not know was written by a newer release: say so in one
    line (SchemaTooNew) rather than alembic's "Can't locate revision" traceback."""
    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    for current in context.get_context().get_current_heads():
        if current not in known:
            raise SchemaTooNew(current, script.get_current_head() or "none")


async def run_async_migrations() -> None:
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = database_url()
    # Uncached statements: then it also works through a transaction pooler (db/pooling.py).
    engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool,
                                      connect_args=ONE_SHOT_CONNECT_ARGS)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())

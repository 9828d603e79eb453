"""Cleanup contexts: one per external resource the service holds.

`embedded_postgres_ctx` starts the embedded server when that is the database
(`deployment.py` decides), `migrations_ctx` upgrades the schema, `engine_ctx` owns the pool,
`context_ctx` assembles what use cases run with (the secret box proven against
what is stored, the caches and the LISTEN task that keeps them honest), and
`housekeeping_ctx` sweeps expired rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import orjson
import psutil
from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from navixy_panel import cache, deployment
from navixy_panel.db import migrate, pooling
from navixy_panel.db.models import EmailGateway
from navixy_panel.http import keys
from navixy_panel.services import hot_path, rate_limits, sessions
from navixy_panel.usecases.context import Context

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 600
# Per instance: 20 SQLAlchemy connections for writes and logins, these for the list
# path, one for LISTEN; two instances stay well under PostgreSQL's default 100.
READ_POOL_SIZE = 16


async def embedded_postgres_ctx(app: web.Application) -> AsyncIterator[None]:
    chosen = deployment.database(app[keys.SETTINGS])
    if chosen.server is None:
        app[keys.DATABASE_URL] = chosen.start()
        app[keys.DIRECT_DATABASE_URL] = chosen.direct(app[keys.DATABASE_URL])
        yield
        return
    # The server is shared by every process using the data directory: this one may
    # attach to a running server, and the last one out stops it.
    pgdata = chosen.server.pgdata
    was_running = _postmaster_running(pgdata)
    app[keys.DATABASE_URL] = await asyncio.to_thread(chosen.start)
    app[keys.DIRECT_DATABASE_URL] = app[keys.DATABASE_URL]
    log.debug("embedded PostgreSQL %s in %s", "attached" if was_running else "started", pgdata)
    try:
        yield
    finally:
        await asyncio.to_thread(chosen.stop)
        if not was_running and not _postmaster_running(pgdata):
            log.info("embedded PostgreSQL stopped")


def _postmaster_running(pgdata: Path) -> bool:
    """Whether a server runs on `pgdata` (its postmaster.pid names a live process)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return psutil.pid_exists(pid)


async def migrations_ctx(app: web.Application) -> AsyncIterator[None]:
    if app[keys.SETTINGS].migrate_on_start:
        # alembic's migrations/env.py runs its own event loop, so it gets a thread.
        await asyncio.to_thread(migrate.upgrade, app[keys.DIRECT_DATABASE_URL])
        log.debug("schema is at the latest migration")
    yield


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[keys.DATABASE_URL]
    settings = app[keys.SETTINGS]
    app[keys.POOLING] = pooling.decide(settings.database_pooler, settings.database_url,
                                       settings.database_direct_url)
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True,
        # A connect fails within 1.5 s when the database is gone, so clients get code 14
        # quickly; waiting for a busy pool is bounded by the setting (then code 14 too).
        pool_timeout=app[keys.SETTINGS].db_pool_wait_seconds,
        connect_args={"timeout": 1.5, "command_timeout": 60,
                      **app[keys.POOLING].engine_connect_args()},
        hide_parameters=True,  # statement parameters hold digests and hashes: never log them
        json_serializer=lambda value: orjson.dumps(value).decode(),
        json_deserializer=orjson.loads,  # JSONB params on every list: the fast parser
    )
    log.debug("database %s", make_url(url).render_as_string(hide_password=True))
    async with engine.connect() as connection:  # fail fast on a wrong URL
        await connection.execute(text("SELECT 1"))
    app[keys.ENGINE] = engine
    try:
        yield
    finally:
        await engine.dispose()


async def read_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """Plain asyncpg connections for the hot list path (see services/hot_path.py):
    statements prepared once per connection, no pre-ping, no ORM."""
    pool = await asyncpg.create_pool(
        cache.asyncpg_dsn(app[keys.DATABASE_URL]), min_size=2, max_size=READ_POOL_SIZE,
        timeout=1.0, command_timeout=60, max_inactive_connection_lifetime=300,
        server_settings={"application_name": "navixy-panel-reads"},
        **app[keys.POOLING].asyncpg_args())
    app[keys.READ_POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    """Loads the SMTP password keys and proves they open what is stored, so a missing
    or wrong key stops the start instead of failing the first send; then starts the
    LISTEN task that keeps the caches honest."""
    settings = app[keys.SETTINGS]
    box = deployment.secret_box(settings)
    sessionmaker = async_sessionmaker(app[keys.ENGINE], expire_on_commit=False,
                                      class_=AsyncSession)
    async with sessionmaker() as session:
        sample = await session.scalar(
            select(EmailGateway.password_encrypted)
            .where(EmailGateway.password_encrypted.is_not(None))
            .order_by(EmailGateway.updated_at.desc()).limit(1))
    if sample is not None:
        box.decrypt(sample)
    # Said here, not where the engine is made: a start refused for its key stays one line.
    log.info("%s", app[keys.POOLING].describe())
    caches = cache.Caches()
    app[keys.CONTEXT] = Context(settings, sessionmaker, box, caches,
                                observe_send=app[keys.METRICS].count_send,
                                pool=hot_path.ReadPool(app[keys.READ_POOL],
                                                       settings.db_pool_wait_seconds),
                                time_left=app[keys.DEADLINES].remaining)
    if not settings.cache_enabled:
        yield
        return
    dsn = cache.asyncpg_dsn(app[keys.DIRECT_DATABASE_URL])  # LISTEN needs its own session
    task = asyncio.create_task(
        cache.listen_forever(caches, dsn, check_every=settings.cache_check_seconds))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    """Deletes expired sessions and old rate counters now and then, so the tables
    stay the size of what is live. Every instance does it; it is idempotent."""

    async def sweep_forever() -> None:
        while True:
            try:
                async with app[keys.CONTEXT].unit_of_work() as uow:
                    await sessions.delete_expired_sessions(uow.session)
                    await rate_limits.delete_old_counters(uow.session, older_than_seconds=86400)
            except Exception as exc:  # the database may be away; try again later
                log.warning("housekeeping skipped: %s", type(exc).__name__)
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    task = asyncio.create_task(sweep_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

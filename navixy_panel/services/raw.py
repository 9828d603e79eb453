"""The unit of work's own asyncpg connection, for the statements every submission runs.

A submission is a handful of small statements (the key, the quota, the insert), and
through SQLAlchemy each cost ~0.4 ms of CPU in compiling, caching and result
wrapping: most of a submission's time (profiled with py-spy). On the session's
underlying asyncpg connection they stay in the same transaction (the use case's
unit of work still commits or rolls back), and asyncpg prepares each statement
once per connection (not at all behind PgBouncer: the engine turns its statement
cache off, db/pooling.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# What the hot-path services take: a unit of work's SQLAlchemy session, or the plain
# asyncpg connection of a raw unit of work (`ctx.unit_of_work(raw=True)`).
Db = Any


async def connection(session: Db) -> Any:
    """The asyncpg connection under the session's transaction, begun if it was not.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement:
    a statement sent straight to asyncpg first would run outside any transaction (and
    a transaction-level advisory lock would end with it). So BEGIN is sent here the
    way the adapter would (its `_start_transaction`, the only private name used; if a
    SQLAlchemy release renames it, one statement through SQLAlchemy does the same)."""
    if not isinstance(session, AsyncSession):
        return session  # already the asyncpg connection of a raw unit of work
    connected = await session.connection()
    fairy = await connected.get_raw_connection()
    adapted = fairy.dbapi_connection
    if getattr(adapted, "_transaction", None) is None:
        start = getattr(adapted, "_start_transaction", None)
        if start is not None and hasattr(adapted, "_transaction"):
            await start()
        else:
            await connected.exec_driver_sql("SELECT 1")
    return fairy.driver_connection

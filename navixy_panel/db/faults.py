"""Telling "the database is unreachable" (code 14, HTTP 503: retry later) apart
from a bug (code 6): connection refused or lost, server shutting down or
starting up, connect time-outs, and no free pooled connection in time (overload)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

_UNREACHABLE = (
    OSError,  # refused, reset, socket file missing
    TimeoutError,  # connect time-out
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # connection closed under us
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    InterfaceError,
    OperationalError,
    PoolTimeout,  # no pooled connection freed up in time: overload, retry later
)


def database_unavailable(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # the exception and the causes SQLAlchemy wraps around it
        if seen is None:
            return False
        if isinstance(seen, _UNREACHABLE):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False

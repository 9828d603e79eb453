"""What every use case runs with, and the one unit-of-work style.

A use case opens `ctx.unit_of_work()`, does its reads and writes through
services (which take the session and never commit), records in `uow.changes`
what its commit changes for cached answers, and leaves the block: the commit
happens there, and only after it the caches are invalidated, so no instance
can re-cache what the transaction had not yet made visible.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from navixy_panel.cache import Caches, Changes
from navixy_panel.domain.delivery import KeyRates
from navixy_panel.security.passwords import verify_password
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.services.hot_path import ReadPool
from navixy_panel.settings import Settings


def _ignore(result: str) -> None:
    """Default send observer: nothing counts sends outside the HTTP service."""


@dataclass(slots=True)
class Context:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    secret_box: SecretBox
    caches: Caches = field(default_factory=Caches)
    # The hot list path's own pool of plain asyncpg connections (the service only).
    pool: ReadPool | None = None
    # Told "sent" or "failed" after every SMTP exchange (the service counts them for /metrics).
    observe_send: Callable[[str], None] = _ignore
    # How a login's password is checked (argon2, in a worker thread); the login-limit
    # tests wrap it on their app's context to count the checks a burst gets through.
    verify_password: Callable[[str | None, str], Awaitable[bool]] = verify_password
    # Seconds left of the current request's time-out (the HTTP service gives its
    # deadlines' clock), so work that waits on the network can stop in time to answer.
    # None, outside the service: the configured request time-out.
    time_left: Callable[[], float] | None = None
    # Submissions per key on this instance (made from the settings when first used).
    key_rates: KeyRates | None = None
    # Wakes this instance's delivery workers after a submission commits (the others
    # hear the NOTIFY the submission sent).
    wake_delivery: Callable[[], None] = lambda: None

    def remaining_time(self) -> float:
        if self.time_left is None:
            return self.settings.request_timeout_seconds
        return self.time_left()

    def rates(self) -> KeyRates:
        if self.key_rates is None:
            self.key_rates = KeyRates(self.settings.key_rate_per_second, time.monotonic)
        return self.key_rates

    def unit_of_work(self, *, raw: bool = False) -> UnitOfWork:
        """`raw`: on a plain asyncpg connection of the service's pool (no SQLAlchemy
        session, no pre-ping) when there is one, for the submission path's few
        statements, which services/raw.py runs on either."""
        return UnitOfWork(self, raw=raw and self.pool is not None)


class UnitOfWork:
    """One transaction: committed when the block ends normally, rolled back when it raises."""

    def __init__(self, ctx: Context, *, raw: bool = False) -> None:
        self._ctx = ctx
        self.changes = Changes()
        self._session: AsyncSession | None = None
        self._raw = raw
        self._connection: Any = None
        self._pooled: Any = None
        self._transaction: Any = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "used outside its `async with` block (or raw)"
        return self._session

    @property
    def db(self) -> Any:
        """The session, or the asyncpg connection of a raw unit of work."""
        return self._connection if self._raw else self.session

    async def __aenter__(self) -> UnitOfWork:
        if self._raw:
            pool = self._ctx.pool
            assert pool is not None
            self._pooled = pool.pool.acquire(timeout=pool.wait_seconds)
            self._connection = await self._pooled.__aenter__()
            try:
                self._transaction = self._connection.transaction()
                await self._transaction.start()
            except BaseException:
                await self._pooled.__aexit__(None, None, None)
                raise
            return self
        self._session = self._ctx.sessionmaker()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._raw:
            try:
                if exc_type is None:
                    await self._transaction.commit()
                else:
                    await self._transaction.rollback()
            finally:
                await self._pooled.__aexit__(None, None, None)
            if exc_type is None:
                self._ctx.caches.invalidate(self.changes)
            return
        # A pool that frees no connection in time (overload) raises here or inside the
        # block; the edge recognises it as "retry later" with every other outage
        # (db/faults.py), so it is not translated twice.
        session = self.session
        try:
            if exc_type is None:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()
        if exc_type is None:
            self._ctx.caches.invalidate(self.changes)

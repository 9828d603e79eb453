"""Fixed-window counters in PostgreSQL, so that every instance shares the count.

A fixed window (rather than a sliding log) costs one upsert per counted event,
and its error at window edges does not matter for brute-force protection.

`reserve` is how a limit holds under concurrency: one conditional upsert takes
a place in the count, or takes none when the window is full, atomically (the
row lock orders simultaneous attempts), so no number of simultaneous requests
gets past the limit between a check and a write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import RateCounter


def _window(window_seconds: int) -> ColumnElement[Any]:
    # Start of the current window, computed by the database clock that every instance shares.
    return func.to_timestamp(
        func.floor(func.extract("epoch", func.now()) / window_seconds) * window_seconds
    )


async def hit(session: AsyncSession, bucket: str, window_seconds: int) -> int:
    """Counts one event and returns the window's total including it."""
    upsert = insert(RateCounter).values(
        bucket=bucket, window_start=_window(window_seconds), hits=literal(1)
    ).on_conflict_do_update(
        index_elements=[RateCounter.bucket, RateCounter.window_start],
        set_={"hits": RateCounter.hits + 1},
    )
    return int(await session.scalar(upsert.returning(RateCounter.hits)) or 0)


async def reserve(session: AsyncSession, bucket: str, window_seconds: int,
                  limit: int) -> dt.datetime | None:
    """Takes one place if fewer than `limit` are taken in the current window; returns
    the window's start (to give the place back), or None when the window is full."""
    upsert = insert(RateCounter).values(
        bucket=bucket, window_start=_window(window_seconds), hits=literal(1)
    ).on_conflict_do_update(
        index_elements=[RateCounter.bucket, RateCounter.window_start],
        set_={"hits": RateCounter.hits + 1},
        where=RateCounter.hits < limit,
    )
    return await session.scalar(upsert.returning(RateCounter.window_start))


async def give_back(session: AsyncSession, bucket: str, window_start: dt.datetime) -> None:
    await session.execute(update(RateCounter).where(
        RateCounter.bucket == bucket, RateCounter.window_start == window_start,
        RateCounter.hits > 0).values(hits=RateCounter.hits - 1))


async def delete_bucket(session: AsyncSession, bucket: str) -> int:
    """Forgets every window of `bucket`; returns how many events it held."""
    cleared = await session.scalars(delete(RateCounter).where(RateCounter.bucket == bucket)
                                    .returning(RateCounter.hits))
    return sum(cleared)


async def delete_old_counters(session: AsyncSession, older_than_seconds: int) -> None:
    await session.execute(delete(RateCounter).where(
        RateCounter.window_start < func.now() - func.make_interval(0, 0, 0, 0, 0, 0,
                                                                    older_than_seconds)))

"""Submission keys: stored by digest only, found by digest, revoked by a timestamp.

A key is looked up on every submission, so nothing here is cached: a revoked key,
or a key whose dealer was blocked, is refused by the next lookup on every instance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import Dealer, SubmissionKey

# How stale `last_used_at` may get: a busy key writes its row once a minute at most.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as listed: never the key itself, which is not stored."""

    id: int
    dealer_id: int
    dealer_login: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """A live key found by its digest, with what deciding to accept it needs."""

    key_id: int
    dealer_id: int
    login: str
    block_status: str


async def create_key(session: AsyncSession, *, dealer_id: int, label: str,
                     digest: bytes) -> int:
    key_id = await session.scalar(
        insert(SubmissionKey).values(dealer_id=dealer_id, label=label, digest=digest)
        .returning(SubmissionKey.id))
    assert key_id is not None
    return key_id


async def list_keys(session: AsyncSession, *, dealer_id: int | None,
                    include_revoked: bool) -> list[StoredKey]:
    query = (select(SubmissionKey.id, SubmissionKey.dealer_id, Dealer.login,
                    SubmissionKey.label, SubmissionKey.created_at, SubmissionKey.last_used_at,
                    SubmissionKey.revoked_at)
             .join(Dealer, Dealer.id == SubmissionKey.dealer_id)
             .order_by(SubmissionKey.id))
    if dealer_id is not None:
        query = query.where(SubmissionKey.dealer_id == dealer_id)
    if not include_revoked:
        query = query.where(SubmissionKey.revoked_at.is_(None))
    return [StoredKey(*row) for row in await session.execute(query)]


async def revoke_key(session: AsyncSession, *, key_id: int, dealer_id: int | None) -> bool:
    """Revokes the key; False when there is no such key. With `dealer_id`, only that
    dealer's live keys count (another's, or one already revoked, is "no such key");
    without it (the operator) any key, and revoking twice keeps the first time."""
    query = (update(SubmissionKey).where(SubmissionKey.id == key_id)
             .values(revoked_at=func.coalesce(SubmissionKey.revoked_at, func.now()))
             .returning(SubmissionKey.id))
    if dealer_id is not None:
        query = query.where(SubmissionKey.dealer_id == dealer_id,
                            SubmissionKey.revoked_at.is_(None))
    return await session.scalar(query) is not None


async def find_live_key(session: AsyncSession, digest: bytes) -> KeyOwner | None:
    """The unrevoked key with this digest and its dealer (by the unique index), or None."""
    row = (await session.execute(
        select(SubmissionKey.id, SubmissionKey.dealer_id, Dealer.login, Dealer.block_status)
        .join(Dealer, Dealer.id == SubmissionKey.dealer_id)
        .where(SubmissionKey.digest == digest, SubmissionKey.revoked_at.is_(None))
    )).first()
    return None if row is None else KeyOwner(*row)


async def touch_key(session: AsyncSession, key_id: int) -> None:
    """Records that the key was used, at most once a minute, so a busy key does not
    write its row on every message.

    The row is taken with SKIP LOCKED: this runs inside the submitting transaction,
    and simultaneous submissions with one key would otherwise queue behind whichever
    of them locked the row first, until it commits. A skipped touch loses nothing:
    the other transaction is recording the same minute. FOR NO KEY UPDATE, not FOR
    UPDATE: the latter blocks the foreign-key check (FOR KEY SHARE) of a simultaneous
    submission's INSERT, which by then holds its idempotency key's index entry, while
    the toucher's own INSERT waits on that entry: a deadlock, a 500 to one of them."""
    due = (select(SubmissionKey.id)
           .where(SubmissionKey.id == key_id,
                  or_(SubmissionKey.last_used_at.is_(None),
                      SubmissionKey.last_used_at < func.now() - TOUCH_EVERY))
           .with_for_update(skip_locked=True, key_share=True)
           .scalar_subquery())
    await session.execute(update(SubmissionKey).where(SubmissionKey.id == due)
                          .values(last_used_at=func.now()))


async def dealer_in_subtree(session: AsyncSession, *, root_id: int,
                            dealer: str | int) -> int | None:
    """The id of `dealer` (a login or an id) if it is `root_id` or below it at any depth;
    None otherwise, whether or not it exists.

    Walks up from the named dealer (a tree is shallow) instead of down from the root
    (a platform owner's subtree holds every dealer). UNION, not UNION ALL, so even a
    cycle in parent_id could not make the walk endless."""
    named: Any = Dealer.login == dealer if isinstance(dealer, str) else Dealer.id == dealer
    ancestors = select(Dealer.id, Dealer.parent_id).where(named).cte("ancestors",
                                                                     recursive=True)
    ancestors = ancestors.union(
        select(Dealer.id, Dealer.parent_id).join(ancestors, Dealer.id == ancestors.c.parent_id))
    found = await session.scalar(
        select(Dealer.id).where(named,
                                select(ancestors.c.id).where(ancestors.c.id == root_id).exists()))
    return found

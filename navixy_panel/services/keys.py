"""Submission keys: stored by digest only, found by digest, revoked by a timestamp.

A key is looked up on every submission, so nothing here is cached: a revoked key,
or a key whose dealer was blocked, is refused by the next lookup on every instance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import Dealer, SubmissionKey
from navixy_panel.services import raw

# How stale `last_used_at` may get: a busy key writes its row once a minute at most.
TOUCH_EVERY = "interval '1 minute'"


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
    touch_due: bool = False  # last_used_at is more than a minute old


async def create_key(session: AsyncSession, *, dealer_id: int, label: str,
                     digest: bytes) -> int:
    key_id = await session.scalar(
        insert(SubmissionKey).values(dealer_id=dealer_id, label=label, digest=digest)
        .returning(SubmissionKey.id))
    assert key_id is not None
    return key_id


async def create_key_if_absent(session: AsyncSession, *, dealer_id: int, label: str,
                               digest: bytes) -> None:
    """The demo's fixed key: created once, left as it is afterwards (revoked included)."""
    await session.execute(
        pg_insert(SubmissionKey).values(dealer_id=dealer_id, label=label, digest=digest)
        .on_conflict_do_nothing(index_elements=["digest"]))


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


async def find_live_key(session: raw.Db, digest: bytes) -> KeyOwner | None:
    """The unrevoked key with this digest and its dealer (by the unique index), or None;
    on every submission, so on the raw connection (services/raw.py)."""
    connection = await raw.connection(session)
    row = await connection.fetchrow(
        "SELECT k.id, k.dealer_id, d.login, d.block_status, (k.last_used_at IS NULL OR "
        f"k.last_used_at < now() - {TOUCH_EVERY}) AS due FROM submission_keys AS k "
        "JOIN dealers AS d ON d.id = k.dealer_id WHERE k.digest = $1 AND k.revoked_at IS NULL",
        digest)
    return None if row is None else KeyOwner(row[0], row[1], row[2], row[3], row[4])


async def touch_key(session: raw.Db, key_id: int) -> None:
    """Records that the key was used, at most once a minute, so a busy key does not
    write its row on every message.

    The row is taken with SKIP LOCKED: this runs inside the submitting transaction,
    and simultaneous submissions with one key would otherwise queue behind whichever
    of them locked the row first, until it commits. A skipped touch loses nothing:
    the other transaction is recording the same minute. The lock is FOR NO KEY UPDATE
    (`key_share`), the one an UPDATE of a non-key column takes anyway: a plain FOR UPDATE
    would also block the foreign-key check of another submission's INSERT (KEY SHARE),
    which deadlocked with the quota's lock under concurrency."""
    connection = await raw.connection(session)
    await connection.execute(
        "UPDATE submission_keys SET last_used_at = now() WHERE id = (SELECT id FROM "
        "submission_keys WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - "
        f"{TOUCH_EVERY}) FOR NO KEY UPDATE SKIP LOCKED)", key_id)


async def dealer_in_subtree(session: raw.Db, *, root_id: int,
                            dealer: str | int) -> int | None:
    """The id of `dealer` (a login or an id) if it is `root_id` or below it at any depth;
    None otherwise, whether or not it exists.

    Walks up from the named dealer (a tree is shallow) instead of down from the root
    (a platform owner's subtree holds every dealer). UNION, not UNION ALL, so even a
    cycle in parent_id could not make the walk endless."""
    column = "login" if isinstance(dealer, str) else "id"
    connection = await raw.connection(session)
    found: int | None = await connection.fetchval(
        f"WITH RECURSIVE ancestors AS (SELECT id, parent_id FROM dealers WHERE {column} = $1 "
        "UNION SELECT d.id, d.parent_id FROM dealers AS d JOIN ancestors AS a "
        "ON d.id = a.parent_id) SELECT id FROM dealers WHERE "
        f"{column} = $1 AND EXISTS (SELECT 1 FROM ancestors WHERE id = $2)", dealer, root_id)
    return found

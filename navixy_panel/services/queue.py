"""The delivery queue's SQL: submit, claim fairly, lease, settle, and the slots that cap
connections per gateway across instances.

Why not PgQueuer or procrastinate (both evaluated): each takes jobs in priority and
age order from one queue, wakes workers with LISTEN on the worker's own connection,
and limits concurrency per task name. Delivery needs what neither has: a claim
that goes round the dealers bound to one gateway (one dealer's 50,000 `bulk`
messages must not delay another dealer's `alarm`), a cap on connections per
gateway held across every instance, and a gateway backed off as a whole. Both
also keep their own job tables, where the delivery log (attempts, per-recipient
outcomes, what a dealer reads) would live apart from the job. So the queue is
one table, `mail_messages`, claimed with `FOR UPDATE SKIP LOCKED`; a row's
`next_attempt_at` is its due time while queued or deferred and its lease's end
while sending, so a message whose instance died is due again when the lease ends,
by the same index and the same claim. No session state is used (no session
advisory lock, no LISTEN on a pooled connection): it works behind PgBouncer in
transaction mode; the wake-up LISTEN runs on the direct connection (delivery/).

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.domain import delivery as d
from navixy_panel.services import raw

WAKE_CHANNEL = "navixy_panel_mail"
_DUE = "status IN ('queued', 'deferred', 'sending')"
# Within this many of the quota, submissions for one dealer take turns (a transaction
# advisory lock) so simultaneous ones cannot overshoot it; further away they never wait.
QUOTA_MARGIN = 64


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    status: str
    duplicate: bool


async def find_idempotent(session: raw.Db, dealer_id: int, key: str) -> Stored | None:
    """The message an idempotency key named within the last 24 hours."""
    connection = await raw.connection(session)
    row = await connection.fetchrow(
        "SELECT id, status FROM mail_messages WHERE dealer_id = $1 AND idempotency_key = $2 "
        "AND created_at > now() - make_interval(hours => $3)",
        dealer_id, key, d.IDEMPOTENCY_HOURS)
    return None if row is None else Stored(row[0], row[1], True)


async def unfinished_count(session: raw.Db, dealer_id: int, limit: int) -> int:
    """At most `limit`: counting further would only cost time."""
    connection = await raw.connection(session)
    return int(await connection.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM mail_messages WHERE dealer_id = $1 "
        f"AND {_DUE} LIMIT $2) AS unfinished", dealer_id, limit) or 0)


async def over_quota(session: raw.Db, dealer_id: int, quota: int) -> bool:
    count = await unfinished_count(session, dealer_id, quota)
    if count < quota - QUOTA_MARGIN:
        return False
    connection = await raw.connection(session)
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                             f"mail-quota:{dealer_id}")
    return await unfinished_count(session, dealer_id, quota) >= quota


async def insert_message(session: raw.Db, *, dealer_id: int, key_id: int | None,
                         priority: int, idempotency_key: str | None, message_id: str,
                         subject: str, recipients: list[dict[str, Any]], content: bytes,
                         size: int) -> Stored | None:
    """None when the idempotency key is taken (by a message committed meanwhile, or one
    older than 24 hours: the caller looks again and frees it).

    No NOTIFY here: a transaction that notifies takes a cluster-wide lock at commit,
    held through its WAL flush, so every submission would commit one after another
    (about 200 a second on this machine's disk). The submitting instance wakes the
    workers after the commit instead (`delivery.runtime.Notifier`)."""
    connection = await raw.connection(session)
    row = await connection.fetchrow(
        "WITH inserted AS (INSERT INTO mail_messages (dealer_id, key_id, priority, "
        "idempotency_key, message_id, subject, recipients, content, size_bytes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9) "
        "ON CONFLICT (dealer_id, idempotency_key) WHERE idempotency_key IS NOT NULL "
        "DO NOTHING RETURNING id) SELECT id FROM inserted",
        dealer_id, key_id, priority, idempotency_key, message_id, subject,
        orjson.dumps(recipients).decode(), content, size)
    if row is None:
        return None
    return Stored(row[0], d.QUEUED, False)


async def free_idempotency_key(session: raw.Db, dealer_id: int, key: str) -> None:
    """A key last used more than 24 hours ago may name a new message."""
    connection = await raw.connection(session)
    await connection.execute(
        "UPDATE mail_messages SET idempotency_key = NULL WHERE dealer_id = $1 AND "
        "idempotency_key = $2 AND created_at <= now() - make_interval(hours => $3)",
        dealer_id, key, d.IDEMPOTENCY_HOURS)


# ---- the delivery side -------------------------------------------------------------

_FAIL_PENDING = (
    "(SELECT coalesce(jsonb_agg(CASE WHEN r->>'status' = 'pending' "
    "THEN r || '{\"status\": \"failed\"}' ELSE r END), '[]') "
    "FROM jsonb_array_elements(m.recipients) AS r)")


async def fail_unroutable(session: AsyncSession, *, max_age_seconds: float) -> int:
    """Finishes due messages that cannot be delivered, whatever the gateways do: the
    dealer has no gateway bound (`no_gateway`), is blocked (`dealer_blocked`), or the
    message is older than the maximum age (`expired`)."""
    result = await session.execute(text(
        "UPDATE mail_messages AS m SET "
        "status = CASE WHEN m.created_at < now() - make_interval(secs => :age) "
        "  THEN 'expired' ELSE 'failed' END, "
        "reason = CASE WHEN m.created_at < now() - make_interval(secs => :age) THEN 'expired' "
        "  WHEN dl.block_status <> 'NOT_BLOCKED' THEN 'dealer_blocked' ELSE 'no_gateway' END, "
        f"recipients = {_FAIL_PENDING}, finished_at = now(), leased_by = NULL "
        "FROM dealers AS dl WHERE dl.id = m.dealer_id AND m.status IN ('queued', 'deferred', "
        "'sending') AND m.next_attempt_at <= now() AND (dl.bound_gateway_id IS NULL OR "
        "dl.block_status <> 'NOT_BLOCKED' OR m.created_at < now() - make_interval(secs => :age))"),
        {"age": max_age_seconds})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def gateways_with_work(session: AsyncSession, limit: int) -> list[int]:
    """Gateways some dealer bound to them has due work for, not backed off: those with
    an `alarm` due first, the rest in random order (every instance asks, and a fixed
    order would send them all to the same gateways)."""
    rows = await session.execute(text(
        "SELECT dl.bound_gateway_id AS gateway_id, min(due.priority) AS best "
        "FROM dealers AS dl CROSS JOIN LATERAL (SELECT m.priority FROM mail_messages AS m "
        f"  WHERE m.dealer_id = dl.id AND m.{_DUE} AND m.next_attempt_at <= now() "
        "  ORDER BY m.priority LIMIT 1) AS due "
        "WHERE dl.bound_gateway_id IS NOT NULL AND dl.block_status = 'NOT_BLOCKED' "
        "AND NOT EXISTS (SELECT 1 FROM gateway_health AS h WHERE "
        "  h.gateway_id = dl.bound_gateway_id AND h.backoff_until > now()) "
        "GROUP BY dl.bound_gateway_id ORDER BY best, random() LIMIT :limit"),
        {"limit": limit})
    return [row.gateway_id for row in rows]


async def take_slot(session: AsyncSession, *, gateway_id: int, holder: str, cap: int,
                    lease_seconds: float) -> int | None:
    """One of the gateway's `cap` connection slots, free or abandoned (its holder's
    lease ran out), or None when every one is held."""
    await session.execute(text(
        "INSERT INTO gateway_slots (gateway_id, slot) SELECT :gateway, s "
        "FROM generate_series(0, :cap - 1) AS s ON CONFLICT DO NOTHING"),
        {"gateway": gateway_id, "cap": cap})
    return await session.scalar(text(
        "UPDATE gateway_slots SET holder = :holder, "
        "lease_until = now() + make_interval(secs => :lease) "
        "WHERE (gateway_id, slot) = (SELECT gateway_id, slot FROM gateway_slots "
        "  WHERE gateway_id = :gateway AND slot < :cap AND "
        "  (holder IS NULL OR lease_until < now()) ORDER BY slot LIMIT 1 "
        "  FOR UPDATE SKIP LOCKED) RETURNING slot"),
        {"gateway": gateway_id, "cap": cap, "holder": holder, "lease": lease_seconds})


async def renew_slot(session: AsyncSession, *, gateway_id: int, slot: int, holder: str,
                     lease_seconds: float) -> bool:
    """False when the slot is no longer ours (our lease ran out and another took it)."""
    result = await session.execute(text(
        "UPDATE gateway_slots SET lease_until = now() + make_interval(secs => :lease) "
        "WHERE gateway_id = :gateway AND slot = :slot AND holder = :holder"),
        {"gateway": gateway_id, "slot": slot, "holder": holder, "lease": lease_seconds})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_slot(session: AsyncSession, *, gateway_id: int, slot: int,
                       holder: str) -> None:
    await session.execute(text(
        "UPDATE gateway_slots SET holder = NULL, lease_until = NULL "
        "WHERE gateway_id = :gateway AND slot = :slot AND holder = :holder"),
        {"gateway": gateway_id, "slot": slot, "holder": holder})


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    dealer_id: int
    priority: int
    message_id: str
    subject: str
    recipients: list[dict[str, Any]]
    content: bytes | None
    attempt_count: int
    created_at: dt.datetime
    email_from: str | None
    email_footer: str | None


async def claim(session: AsyncSession, *, gateway_id: int, holder: str, batch: int,
                per_dealer: int, lease_seconds: float) -> list[Claimed]:
    """Due messages of the dealers bound to the gateway now, at most `per_dealer` of
    each dealer (its `alarm`s first), the dealers in random order, `alarm`s of any
    dealer ahead in the batch; leased to `holder` for `lease_seconds`."""
    rows = await session.execute(text(
        "WITH picked AS (SELECT m.id, m.priority FROM (SELECT id FROM dealers WHERE "
        "  bound_gateway_id = :gateway AND block_status = 'NOT_BLOCKED' ORDER BY random()) "
        "  AS dl CROSS JOIN LATERAL (SELECT id, priority FROM mail_messages AS m "
        f"    WHERE m.dealer_id = dl.id AND m.{_DUE} AND m.next_attempt_at <= now() "
        "    ORDER BY m.priority, m.next_attempt_at, m.id LIMIT :per_dealer "
        "    FOR UPDATE SKIP LOCKED) AS m ORDER BY m.priority LIMIT :batch) "
        "UPDATE mail_messages AS m SET status = 'sending', leased_by = :holder, "
        "next_attempt_at = now() + make_interval(secs => :lease) "
        "FROM picked, dealers AS dl WHERE m.id = picked.id AND dl.id = m.dealer_id "
        "RETURNING m.id, m.dealer_id, m.priority, m.message_id, m.subject, m.recipients, "
        "m.content, m.attempt_count, m.created_at, dl.email_from, dl.email_footer"),
        {"gateway": gateway_id, "holder": holder, "batch": batch, "per_dealer": per_dealer,
         "lease": lease_seconds})
    claimed = [Claimed(row.id, row.dealer_id, row.priority, row.message_id, row.subject,
                       row.recipients, row.content, row.attempt_count, row.created_at,
                       row.email_from, row.email_footer) for row in rows]
    claimed.sort(key=lambda message: (message.priority, message.id))
    return claimed


async def extend_lease(session: AsyncSession, ids: Sequence[int], *, holder: str,
                       lease_seconds: float) -> None:
    await session.execute(text(
        "UPDATE mail_messages SET next_attempt_at = now() + make_interval(secs => :lease) "
        "WHERE id = ANY(:ids) AND leased_by = :holder AND status = 'sending'"),
        {"ids": list(ids), "holder": holder, "lease": lease_seconds})


async def settle(session: AsyncSession, results: Sequence[dict[str, Any]], *,
                 holder: str) -> None:
    """Records attempts: each result is {id, status, reason, recipients, attempt,
    delay (seconds to the next attempt, or null), finished, gateway_id}. Only for
    messages still leased to `holder`: one whose lease ran out belongs to whoever
    claimed it since."""
    if not results:
        return
    await session.execute(text(
        "UPDATE mail_messages AS m SET status = r.status, reason = r.reason, "
        "recipients = r.recipients, attempts = m.attempts || jsonb_build_array(r.attempt), "
        "attempt_count = m.attempt_count + 1, gateway_id = r.gateway_id, "
        "next_attempt_at = CASE WHEN r.delay IS NULL THEN m.next_attempt_at "
        "  ELSE now() + make_interval(secs => r.delay) END, "
        "finished_at = CASE WHEN r.finished THEN now() END, leased_by = NULL "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, status text, "
        "  reason text, recipients jsonb, attempt jsonb, delay float8, finished bool, "
        "  gateway_id bigint) "
        "WHERE m.id = r.id AND m.leased_by = :holder AND m.status = 'sending'"),
        {"rows": orjson.dumps(list(results)).decode(), "holder": holder})


async def release(session: AsyncSession, ids: Sequence[int], *, holder: str) -> None:
    """Hands messages back untouched (an instance stopping): due again at once."""
    if ids:
        await session.execute(text(
            "UPDATE mail_messages SET status = CASE WHEN attempt_count = 0 THEN 'queued' "
            "ELSE 'deferred' END, leased_by = NULL, next_attempt_at = now() "
            "WHERE id = ANY(:ids) AND leased_by = :holder AND status = 'sending'"),
            {"ids": list(ids), "holder": holder})


async def record_health(session: AsyncSession, gateway_id: int, *, success: bool,
                        failure_kind: str | None, backoff_base: float) -> None:
    """A gateway's last success or failure; after two failed connections in a row it is
    backed off as a whole (doubling from `backoff_base`, at most an hour), so no worker
    waits on it while it is down. A success ends the back-off."""
    if success:
        await session.execute(text(
            "INSERT INTO gateway_health (gateway_id, last_success_at, failures_in_row) "
            "SELECT :gateway, now(), 0 WHERE EXISTS (SELECT 1 FROM email_gateways "
            "  WHERE id = :gateway) ON CONFLICT (gateway_id) DO UPDATE SET "
            "last_success_at = now(), failures_in_row = 0, backoff_until = NULL"),
            {"gateway": gateway_id})
        return
    await session.execute(text(
        "INSERT INTO gateway_health (gateway_id, last_failure_at, last_failure_kind, "
        "  failures_in_row) SELECT :gateway, now(), :kind, 1 WHERE EXISTS (SELECT 1 FROM "
        "  email_gateways WHERE id = :gateway) "
        "ON CONFLICT (gateway_id) DO UPDATE SET last_failure_at = now(), "
        "last_failure_kind = :kind, failures_in_row = gateway_health.failures_in_row + 1, "
        "backoff_until = CASE WHEN gateway_health.failures_in_row + 1 >= 2 THEN now() + "
        "  make_interval(secs => least(3600, :base * "
        "  power(2, least(gateway_health.failures_in_row - 1, 20)))) END"),
        {"gateway": gateway_id, "kind": failure_kind, "base": backoff_base})


async def purge(session: AsyncSession, *, bodies_after_seconds: float,
                rows_after_seconds: float) -> tuple[int, int]:
    """Retention: bodies of messages finished long enough ago, then whole rows."""
    bodies = await session.execute(text(
        "UPDATE mail_messages SET content = NULL WHERE finished_at < now() - "
        "make_interval(secs => :age) AND content IS NOT NULL"),
        {"age": bodies_after_seconds})
    rows = await session.execute(text(
        "DELETE FROM mail_messages WHERE finished_at < now() - make_interval(secs => :age)"),
        {"age": rows_after_seconds})
    await session.execute(text(
        "DELETE FROM gateway_slots AS s WHERE NOT EXISTS (SELECT 1 FROM email_gateways "
        "AS g WHERE g.id = s.gateway_id) AND (s.holder IS NULL OR s.lease_until < now())"))
    return int(bodies.rowcount), int(rows.rowcount)  # type: ignore[attr-defined]


# ---- what dealers and metrics see ----------------------------------------------------

_COLUMNS = ("id, dealer_id, priority, status, reason, subject, recipients, attempts, "
            "gateway_id, created_at, finished_at, next_attempt_at, attempt_count")


async def get_message(session: AsyncSession, message_id: int) -> Any:
    return (await session.execute(text(f"SELECT {_COLUMNS} FROM mail_messages WHERE id = :id"),
                                  {"id": message_id})).first()


async def list_messages(session: AsyncSession, *, dealer_id: int, limit: int, offset: int,
                        status: str | None, since: dt.datetime | None,
                        until: dt.datetime | None) -> tuple[list[Any], int]:
    where = ["dealer_id = :dealer"]
    params: dict[str, Any] = {"dealer": dealer_id, "limit": limit, "offset": offset}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if since is not None:
        where.append("created_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("created_at <= :until")
        params["until"] = until
    condition = " AND ".join(where)
    rows = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM mail_messages WHERE {condition} ORDER BY id DESC "
        "LIMIT :limit OFFSET :offset"), params)).all()
    count = await session.scalar(text(f"SELECT count(*) FROM mail_messages WHERE {condition}"),
                                 params)
    return list(rows), int(count or 0)


async def gateway_health(session: AsyncSession, *, dealer_id: int,
                         parent_id: int | None) -> list[Any]:
    """The dealer's own gateways and its parent's leasable ones, with their health row
    (if any) and their unfinished messages: of every dealer bound to an own gateway,
    only the dealer's own through a leased one (its siblings' volume is not its business)."""
    rows = await session.execute(text(
        "SELECT g.id, h.last_success_at, h.last_failure_at, h.last_failure_kind, "
        "h.failures_in_row, h.backoff_until, (SELECT count(*) FROM dealers AS dl "
        f"  JOIN mail_messages AS m ON m.dealer_id = dl.id AND m.{_DUE} "
        "  WHERE dl.bound_gateway_id = g.id AND (g.owner_id = :dealer OR dl.id = :dealer)) "
        "  AS queued "
        "FROM email_gateways AS g LEFT JOIN gateway_health AS h ON h.gateway_id = g.id "
        "WHERE g.owner_id = :dealer OR (g.owner_id = :parent AND g.leasable) ORDER BY g.id"),
        {"dealer": dealer_id, "parent": parent_id})
    return list(rows)


async def depth(session: AsyncSession) -> tuple[dict[str, int], float]:
    """Unfinished messages by status, and the age in seconds of the oldest one waiting."""
    rows = await session.execute(text(
        f"SELECT status, count(*) AS n FROM mail_messages WHERE {_DUE} GROUP BY status"))
    counts = dict.fromkeys(d.UNFINISHED, 0)
    counts.update({row.status: row.n for row in rows})
    oldest = await session.scalar(text(
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM mail_messages "
        "WHERE status IN ('queued', 'deferred')"))
    return counts, float(oldest or 0)

"""The list path's reads, on a raw asyncpg pool.

`gateways/email/list` is called on every panel page load, so its uncached path
is one prepared statement (asyncpg prepares and caches it per connection) that
resolves the session and reads the list at once: one round trip, no ORM
objects, no pool pre-ping. The profile of the SQLAlchemy version spent 40% of
its time in SQLAlchemy and 7 round trips per call. Unlike other services this
takes the pool, not a session: these reads need no transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from navixy_panel.domain.caller import Caller
from navixy_panel.domain.dealers import LOGIN_BLOCKING_STATUSES
from navixy_panel.domain.gateways import GatewayList
from navixy_panel.services.gateway_store import visible_gateways

_VISIBLE = "g.owner_id = {dealer} OR (g.owner_id = {parent} AND g.leasable)"

# The visible gateways as two index lookups (own, then the parent's leasable ones): a
# join on `owner_id = c.id OR (owner_id = c.parent_id AND leasable)` is planned as a
# scan of the whole table.
CALLER_AND_LIST = """
WITH caller AS (
    SELECT d.id, d.login, d.parent_id, d.domain, d.permissions::text AS permissions,
           d.bound_gateway_id, s.expires_at
    FROM sessions s JOIN dealers d ON d.id = s.dealer_id
    WHERE s.digest = $1 AND s.kind = $2 AND s.expires_at > now()
      AND d.block_status <> ALL ($3::text[])
)
SELECT c.id, c.login, c.parent_id, c.domain, c.permissions, c.bound_gateway_id, c.expires_at,
       g.id, g.owner_id, g.label, g.provider, g.leasable, g.params
FROM caller c
LEFT JOIN LATERAL (
    SELECT id, owner_id, label, provider, leasable, params::text AS params
    FROM email_gateways WHERE owner_id = c.id
    UNION ALL
    SELECT id, owner_id, label, provider, leasable, params::text
    FROM email_gateways WHERE owner_id = c.parent_id AND leasable
) g ON true
ORDER BY g.id
"""

LIST = f"""
SELECT g.id, g.owner_id, g.label, g.provider, g.leasable, g.params::text
FROM email_gateways g WHERE {_VISIBLE.format(dealer="$1", parent="$2")} ORDER BY g.id
"""

_BLOCKING = list(LOGIN_BLOCKING_STATUSES)


@dataclass(frozen=True, slots=True)
class ReadPool:
    """The pool and how long to wait for one of its connections: past that the
    database is overloaded or away, and the caller answers "retry later"
    (TimeoutError → code 14), not a bug."""

    pool: asyncpg.Pool
    wait_seconds: float


async def _fetch(reads: ReadPool, query: str, *args: Any) -> list[asyncpg.Record]:
    async with reads.pool.acquire(timeout=reads.wait_seconds) as connection:
        records: list[asyncpg.Record] = await connection.fetch(query, *args)
        return records


def _gateway_rows(records: Sequence[Any], offset: int) -> list[tuple[Any, ...]]:
    return [(r[offset], r[offset + 1], r[offset + 2], r[offset + 3], r[offset + 4],
             orjson.loads(r[offset + 5])) for r in records if r[offset] is not None]


async def get_caller_and_list(reads: ReadPool, digest: bytes,
                              kind: str) -> tuple[Caller, GatewayList] | None:
    """The live session's dealer and its visible gateways, or None (unknown, expired,
    ended, or the dealer is blocked)."""
    records = await _fetch(reads, CALLER_AND_LIST, digest, kind, _BLOCKING)
    if not records:
        return None
    first = records[0]
    caller = Caller(first[0], first[1], first[2], first[3], orjson.loads(first[4]), first[5],
                    digest, first[6])
    return caller, visible_gateways(_gateway_rows(records, 7), caller.dealer_id,
                                    caller.bound_gateway_id)


async def list_visible_gateways(reads: ReadPool, caller: Caller) -> GatewayList:
    """The caller's visible gateways (its session already resolved)."""
    records = await _fetch(reads, LIST, caller.dealer_id, caller.parent_id)
    return visible_gateways(_gateway_rows(records, 0), caller.dealer_id,
                            caller.bound_gateway_id)

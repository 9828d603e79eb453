"""Whether `DATABASE_URL` leads through a transaction-pooling PgBouncer, and what
that changes in how connections are opened.

In transaction mode PgBouncer hands each transaction (and each statement outside
one) to whichever server connection is free, so nothing that lives in a server
session survives between them:
- named prepared statements: asyncpg and SQLAlchemy cache them per *client*
  connection under names like `__asyncpg_stmt_1__`; on a shared server connection
  they collide ("prepared statement … already exists") or are missing. Debian 12's
  PgBouncer 1.18 does not track them (1.21+ does, with `max_prepared_statements`).
  With `statement_cache_size=0` asyncpg prepares every statement *unnamed* and
  parses it again in the same message batch as its execution, so statement and
  execution cannot be split across server connections; SQLAlchemy's own cache must
  be off too (`prepared_statement_cache_size=0`), else it keeps asyncpg statements
  alive across transactions. Unnamed statements are replaced by the next Parse, so
  nothing piles up on the servers either (unique names, SQLAlchemy's other remedy,
  would avoid collisions but leave named statements behind on server connections:
  PgBouncer runs no `DISCARD ALL` between transactions, and asyncpg's later Close of
  a statement may reach another server connection). The same options work on 1.21+,
  whatever its `max_prepared_statements`;
- LISTEN: a notification is delivered to the server session that listens, which
  the client no longer holds once its transaction ends. The cache invalidation
  listener therefore uses the direct URL, as do migrations (they run in one
  transaction under a transaction-scoped advisory lock, which holds through the
  pooler too, but a long migration would occupy one of its few server connections
  and be subject to its time-outs).

Short-lived connections (migrations, the start-up probe, operator commands) always
use `ONE_SHOT_CONNECT_ARGS`: they run a few statements once, so a statement cache
buys nothing, and they then work through any pooler without being told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# NAVIXY_PANEL_DATABASE_POOLER's values (settings.py validates them).
AUTO, PGBOUNCER, NONE = "auto", "pgbouncer", "none"

# asyncpg's own cache (`statement_cache_size`) and SQLAlchemy's asyncpg dialect's
# (`prepared_statement_cache_size`, popped by the dialect before asyncpg sees it).
ONE_SHOT_CONNECT_ARGS: dict[str, Any] = {"statement_cache_size": 0,
                                         "prepared_statement_cache_size": 0}


@dataclass(frozen=True, slots=True)
class Pooling:
    """How this instance's long-lived pools open connections."""

    transaction_pooler: bool
    reason: str

    def engine_connect_args(self) -> dict[str, Any]:
        """Merged into `create_async_engine(connect_args=…)` of the service's engine."""
        return dict(ONE_SHOT_CONNECT_ARGS) if self.transaction_pooler else {}

    def asyncpg_args(self) -> dict[str, Any]:
        """Merged into `asyncpg.create_pool(…)` / `asyncpg.connect(…)` on DATABASE_URL."""
        return {"statement_cache_size": 0} if self.transaction_pooler else {}

    def describe(self) -> str:
        if self.transaction_pooler:
            return ("database connections: transaction pooling (PgBouncer) assumed, "
                    f"{self.reason}: statements are not cached on server connections; "
                    "LISTEN and migrations use NAVIXY_PANEL_DATABASE_DIRECT_URL")
        return (f"database connections: direct, {self.reason}: statements are prepared "
                "once per connection")


def decide(choice: str, database_url: str | None, direct_url: str | None) -> Pooling:
    """`choice` is NAVIXY_PANEL_DATABASE_POOLER. "auto" cannot ask PgBouncer itself (a
    pooled connection answers as PostgreSQL does; only PgBouncer's admin console says
    `SHOW pool_mode`), so it goes by the configuration: a separate direct URL is only
    worth giving when DATABASE_URL is not direct."""
    if choice == PGBOUNCER:
        return Pooling(True, "NAVIXY_PANEL_DATABASE_POOLER=pgbouncer")
    if choice == NONE:
        return Pooling(False, "NAVIXY_PANEL_DATABASE_POOLER=none")
    if database_url is None:
        return Pooling(False, "the embedded PostgreSQL")
    if direct_url is not None and direct_url != database_url:
        return Pooling(True, "NAVIXY_PANEL_DATABASE_DIRECT_URL differs from DATABASE_URL "
                             "(NAVIXY_PANEL_DATABASE_POOLER=auto)")
    return Pooling(False, "no separate NAVIXY_PANEL_DATABASE_DIRECT_URL "
                          "(NAVIXY_PANEL_DATABASE_POOLER=auto)")

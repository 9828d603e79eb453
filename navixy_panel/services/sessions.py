"""Panel sessions: opened by a login, resolved on every call, ended by logout,
by expiry, by a password change and by blocking the dealer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import now

from navixy_panel.db.models import Dealer, PanelSession
from navixy_panel.domain.caller import Caller
from navixy_panel.domain.dealers import LOGIN_BLOCKING_STATUSES
from navixy_panel.security import tokens


async def create_session(session: AsyncSession, *, dealer_id: int, ttl_seconds: int, kind: str,
                         secret: str) -> dt.datetime:
    """Stores the session of `secret` (a Navixy hash or a Webitel key; only its digest is
    kept) and returns its expiry."""
    expires_at = await session.scalar(
        insert(PanelSession)
        .values(digest=tokens.digest(secret), dealer_id=dealer_id, kind=kind,
                expires_at=now() + dt.timedelta(seconds=ttl_seconds))
        .returning(PanelSession.expires_at)
    )
    assert expires_at is not None
    return expires_at


_CALLER_COLUMNS: tuple[Any, ...] = (
    Dealer.id, Dealer.login, Dealer.parent_id, Dealer.domain, Dealer.permissions,
    Dealer.bound_gateway_id, PanelSession.digest, PanelSession.expires_at,
)


async def get_caller(session: AsyncSession, session_hash: str,
                     kind: str = "navixy") -> Caller | None:
    """One statement: the live session and its dealer, or None (unknown, expired, ended,
    or the dealer is blocked; blocking also deletes sessions, this is the second fence)."""
    row = (await session.execute(
        select(*_CALLER_COLUMNS)
        .join(Dealer, Dealer.id == PanelSession.dealer_id)
        .where(PanelSession.digest == tokens.digest(session_hash),
               PanelSession.kind == kind,
               PanelSession.expires_at > now(),
               Dealer.block_status.not_in(LOGIN_BLOCKING_STATUSES))
    )).first()
    return None if row is None else Caller(*row)


async def delete_session(session: AsyncSession, digest: bytes) -> bool:
    result = await session.execute(delete(PanelSession).where(PanelSession.digest == digest))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_dealer_sessions(session: AsyncSession, dealer_id: int) -> None:
    await session.execute(delete(PanelSession).where(PanelSession.dealer_id == dealer_id))


async def delete_expired_sessions(session: AsyncSession) -> None:
    """Expired rows are already refused; deleting them keeps the table small.

    The DELETE runs only when there is something to delete: its statement trigger
    notifies every instance, which clears their caches."""
    expired = PanelSession.expires_at <= now()
    if await session.scalar(select(exists().where(expired))):
        await session.execute(delete(PanelSession).where(expired))

"""The audit trail: who changed which gateway, binding or sender identity, when,
from where, and what changed. Secrets never enter it: a password change is
recorded as `"mail.smtp.password": "changed"`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import AuditEvent
from navixy_panel.domain.caller import Actor
from navixy_panel.domain.smtp_params import PASSWORD


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for what differs; never a secret value."""
    changed: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        if key == PASSWORD:
            continue
        if before.get(key) != after.get(key):
            changed[key] = [before.get(key), after.get(key)]
    return changed


async def record(session: AsyncSession, actor: Actor, *, dealer_id: int, action: str,
                 gateway_id: int | None = None, changes: dict[str, Any] | None = None) -> None:
    await session.execute(insert(AuditEvent).values(
        dealer_id=dealer_id, actor_id=actor.dealer_id, actor=actor.login, face=actor.face,
        client_address=actor.client_address, action=action, gateway_id=gateway_id,
        changes=changes or {}))


async def page(session: AsyncSession, *, dealer_id: int, limit: int,
               offset: int) -> tuple[list[dict[str, Any]], int]:
    total = await session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.dealer_id == dealer_id))
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.dealer_id == dealer_id)
        .order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
    entries = [{"id": e.id, "time": e.at.isoformat(), "actor": e.actor, "face": e.face,
                "client_address": e.client_address, "action": e.action,
                "gateway_id": e.gateway_id, "changes": e.changes} for e in rows]
    return entries, int(total or 0)

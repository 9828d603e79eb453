"""The audit trail: who changed which gateway, binding or sender identity, when,
from where, and what changed. Secrets never enter it: a password change is
recorded as `"mail.smtp.password": "changed"`.

A dealer's trail also holds changes made for it by a dealer above it (through
Webitel's `?domain=` of a sub-dealer) and by the platform operator (command
line). The dealer reading its trail sees who and from where only for its own
changes; the others read as made by `"parent"` (any dealer above it) or
`"operator"`, with no client address: a sub-dealer never learns its parent's
login or network address from it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import AuditEvent
from navixy_panel.domain.audit import AuditEntry
from navixy_panel.domain.caller import OPERATOR, Actor
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


async def create_entry(session: AsyncSession, actor: Actor, *, dealer_id: int, action: str,
                       changes: dict[str, Any], gateway_id: int | None = None) -> None:
    """Nothing is recorded when nothing changed: a form saved as it was (which the
    admin panel does on every save) would otherwise bury the real changes."""
    if not changes:
        return
    await session.execute(insert(AuditEvent).values(
        dealer_id=dealer_id, actor_id=actor.dealer_id, actor=actor.login, face=actor.face,
        client_address=actor.client_address, action=action, gateway_id=gateway_id,
        changes=changes))


PARENT = "parent"  # how a dealer's trail names a change made by any dealer above it


def _who(event: AuditEvent, viewer_id: int) -> tuple[str, str | None]:
    """(actor, client_address) as the dealer `viewer_id` may see them."""
    if event.actor_id == viewer_id:
        return event.actor, event.client_address
    # The operator acts from the command line with no dealer behind it; a dealer's
    # change (a deleted dealer's included: its actor_id is then null) came
    # through a face, and only a dealer above the viewer can act on its records.
    return (OPERATOR.login if event.face == OPERATOR.face else PARENT), None


async def list_entries(session: AsyncSession, *, dealer_id: int, limit: int,
                       offset: int) -> tuple[list[AuditEntry], int]:
    """One page of `dealer_id`'s trail, newest first, as that dealer may see it."""
    total = await session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.dealer_id == dealer_id))
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.dealer_id == dealer_id)
        .order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
    entries = []
    for e in rows:
        actor, client_address = _who(e, dealer_id)
        entries.append(AuditEntry(e.id, e.at, actor, e.face, client_address, e.action,
                                  e.gateway_id, e.changes))
    return entries, int(total or 0)

"""The dealer's sender identity (Navixy's notification settings): read and replace.

Two ways in, one stored identity: the documented `dealer/settings/notification/update`
replaces all of it, and `…/notification/email/update` (which Navixy's admin panel calls
after saving SMTP settings) replaces the email sender and footer only.
"""

from __future__ import annotations

import dataclasses

from navixy_panel.domain.caller import Actor
from navixy_panel.domain.dealers import SenderIdentity
from navixy_panel.services import audit, dealers
from navixy_panel.usecases.context import Context, UnitOfWork

__all__ = ["SenderIdentity", "read", "replace", "replace_email"]


async def read(ctx: Context, dealer_id: int) -> SenderIdentity:
    async with ctx.unit_of_work() as uow:
        return await dealers.get_sender_identity(uow.session, dealer_id)


async def replace(ctx: Context, dealer_id: int, identity: SenderIdentity,
                  actor: Actor) -> None:
    """A full replacement: what is not given is cleared. Nothing cached shows it."""
    async with ctx.unit_of_work() as uow:
        before = await dealers.get_sender_identity(uow.session, dealer_id, lock=True)
        await _store(uow, dealer_id, before, identity, actor)


async def replace_email(ctx: Context, dealer_id: int, *, email_from: str,
                        email_footer: str | None, actor: Actor) -> None:
    """Both email fields (an absent footer is cleared); the other settings are kept."""
    async with ctx.unit_of_work() as uow:
        before = await dealers.get_sender_identity(uow.session, dealer_id, lock=True)
        after = dataclasses.replace(before, email_from=email_from, email_footer=email_footer)
        await _store(uow, dealer_id, before, after, actor)


async def _store(uow: UnitOfWork, dealer_id: int, before: SenderIdentity,
                 after: SenderIdentity, actor: Actor) -> None:
    await dealers.update_sender_identity(uow.session, dealer_id, after)
    await audit.create_entry(uow.session, actor, dealer_id=dealer_id, action="sender.update",
                             changes=audit.diff(before.fields(), after.fields()))

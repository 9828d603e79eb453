"""The dealer's sender identity (Navixy's notification settings): read and replace."""

from __future__ import annotations

from navixy_panel.domain.caller import Actor, Caller
from navixy_panel.services import audit, dealers
from navixy_panel.services.dealers import SenderIdentity
from navixy_panel.usecases.context import Context

__all__ = ["SenderIdentity", "read", "replace"]


async def read(ctx: Context, caller: Caller) -> SenderIdentity:
    async with ctx.unit_of_work() as uow:
        return await dealers.sender_identity(uow.session, caller.dealer_id)


async def replace(ctx: Context, caller: Caller, identity: SenderIdentity, actor: Actor) -> None:
    """A full replacement: what is not given is cleared. Nothing cached shows it."""
    async with ctx.unit_of_work() as uow:
        before = await dealers.sender_identity(uow.session, caller.dealer_id, lock=True)
        await dealers.set_sender_identity(uow.session, caller.dealer_id, identity)
        await audit.record(uow.session, actor, dealer_id=caller.dealer_id,
                           action="sender.update",
                           changes=audit.diff(_fields(before), _fields(identity)))


def _fields(identity: SenderIdentity) -> dict[str, str | None]:
    return {"email_from": identity.email_from, "email_footer": identity.email_footer}

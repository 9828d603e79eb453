"""A dealer's email gateways: list, create, update, delete, bind, and their audit trail.

Each use case is one unit of work and records which cached answers its commit
changes: the owner's own list and, when a leasable gateway is involved, the
lists of the owner's direct children (what they may lease changed).
"""

from __future__ import annotations

from collections.abc import Callable

from navixy_panel.cache import Tag
from navixy_panel.domain.audit import AuditEntry
from navixy_panel.domain.caller import Actor, Caller
from navixy_panel.domain.errors import InvalidInput, SessionEnded
from navixy_panel.domain.gateways import GatewayInput, GatewayList
from navixy_panel.mail import destinations
from navixy_panel.security import tokens
from navixy_panel.services import audit, gateway_store, hot_path
from navixy_panel.usecases.context import Context, UnitOfWork
from navixy_panel.usecases.logins import session_key, session_tags

__all__ = ["GatewayInput", "GatewayList", "Render", "caller_with_list", "list_gateways",
           "create", "update", "delete", "bind", "audit_page"]


# How a face writes a dealer's list. Its bytes are what the list cache holds (per
# dealer: one face lists), so a cached hit costs neither a statement nor a serialization.
Render = Callable[[GatewayList], bytes]


def _list_tags(caller: Caller) -> tuple[Tag, ...]:
    if caller.parent_id is None:
        return (("dealer", caller.dealer_id),)
    return (("dealer", caller.dealer_id), ("parent", caller.parent_id))


async def caller_with_list(ctx: Context, secret: str,
                           render: Render) -> tuple[Caller, bytes | None]:
    """The session's dealer and, when it comes at no extra cost, its rendered list.

    Every panel page load asks for the list, so this is the hot path: a cached
    session and list cost no statement; otherwise one statement resolves the
    session and reads the list at once (`services/hot_path.py`)."""
    key = session_key("navixy", secret)
    caches = ctx.caches
    caller = caches.sessions.peek(key)
    if caller is not None and caller.is_live():
        return caller, caches.lists.peek(caller.dealer_id)
    assert ctx.pool is not None, "the list path needs the service's asyncpg pool"
    epoch = caches.epoch
    found = await hot_path.get_caller_and_list(ctx.pool, tokens.digest(secret), "navixy")
    if found is None:
        raise SessionEnded()
    caller, gateway_list = found
    body = render(gateway_list)
    caches.sessions.store(key, caller, session_tags(caller), epoch)
    caches.lists.store(caller.dealer_id, body, _list_tags(caller), epoch)
    return caller, body


async def list_gateways(ctx: Context, caller: Caller, render: Render) -> bytes:
    """The dealer's rendered list, cached per dealer."""

    async def load() -> bytes:
        assert ctx.pool is not None, "the list path needs the service's asyncpg pool"
        return render(await hot_path.list_visible_gateways(ctx.pool, caller))

    body = await ctx.caches.lists.get_or_load(caller.dealer_id, load,
                                              lambda _body: _list_tags(caller))
    assert body is not None
    return body


def _changed_gateway(uow: UnitOfWork, owner_id: int, *leasable: bool) -> None:
    uow.changes.dealers.add(owner_id)
    if any(leasable):
        uow.changes.children_of.add(owner_id)


async def create(ctx: Context, *, owner_id: int, gateway: GatewayInput, actor: Actor) -> int:
    """Through the API only `smtp` gateways are created (an operator creates others:
    `operator.create_relay`)."""
    if gateway.provider != "smtp":
        raise InvalidInput.of("provider", "Only 'smtp' gateways can be created through the API.")
    await destinations.check_gateway(gateway.params, ctx.settings.smtp_allowed_networks)
    async with ctx.unit_of_work() as uow:
        gateway_id = await gateway_store.create_gateway(
            uow.session, ctx.secret_box, owner_id=owner_id, gateway=gateway, actor=actor)
        _changed_gateway(uow, owner_id, gateway.leasable)
    return gateway_id


async def update(ctx: Context, caller: Caller, *, gateway_id: int, gateway: GatewayInput,
                 actor: Actor) -> None:
    await destinations.check_gateway(gateway.params, ctx.settings.smtp_allowed_networks)
    async with ctx.unit_of_work() as uow:
        was_leasable = await gateway_store.update_gateway(
            uow.session, ctx.secret_box, owner_id=caller.dealer_id, gateway_id=gateway_id,
            gateway=gateway, actor=actor)
        _changed_gateway(uow, caller.dealer_id, was_leasable, gateway.leasable)


async def delete(ctx: Context, caller: Caller, *, gateway_id: int, actor: Actor) -> None:
    async with ctx.unit_of_work() as uow:
        was_leasable = await gateway_store.delete_gateway(uow.session, owner_id=caller.dealer_id,
                                                          gateway_id=gateway_id, actor=actor)
        _changed_gateway(uow, caller.dealer_id, was_leasable)


async def bind(ctx: Context, caller: Caller, *, gateway_id: int, actor: Actor) -> None:
    async with ctx.unit_of_work() as uow:
        await gateway_store.bind_gateway(uow.session, dealer_id=caller.dealer_id,
                                         parent_id=caller.parent_id, gateway_id=gateway_id,
                                         actor=actor)
        uow.changes.dealers.add(caller.dealer_id)


async def audit_page(ctx: Context, caller: Caller, *, limit: int,
                     offset: int) -> tuple[list[AuditEntry], int]:
    async with ctx.unit_of_work() as uow:
        return await audit.list_entries(uow.session, dealer_id=caller.dealer_id, limit=limit,
                                        offset=offset)

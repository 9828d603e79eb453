"""A domain's email settings (Webitel's model): the domain's dealer's bound own gateway.

The caller reaches its own domain and those of its sub-dealers at any depth;
any other domain, existing or not, is `NotPermitted` (nothing reveals it). The
scope is read in the same unit of work that acts on it. Writes to one domain
are serialised by a transaction-level lock, so simultaneous upserts create one
gateway and a delete racing an upsert sees its result.

The face turns its document into a `GatewayInput` on top of the current
gateway (what it has no word for is kept), so the use cases take a `build`
callback that runs inside the unit of work, after the current gateway is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from navixy_panel.domain.caller import Actor, Caller
from navixy_panel.domain.dealers import DomainDealer
from navixy_panel.domain.errors import DomainRequired, NotFound, NotPermitted
from navixy_panel.domain.gateways import DomainSettings, GatewayInput, GatewayRecord
from navixy_panel.mail import destinations
from navixy_panel.mail.mailer import Sent
from navixy_panel.services import dealers, gateway_store
from navixy_panel.usecases import sends
from navixy_panel.usecases.context import Context, UnitOfWork

Build = Callable[[GatewayRecord | None], GatewayInput]
T = TypeVar("T")
ATTEMPTS = 3  # each retry follows a concurrent delete; more than one in a row is rare


async def _scope(uow: UnitOfWork, caller: Caller, domain: str | None,
                 operation: str) -> DomainDealer:
    name = (domain or caller.domain or "").strip().lower()
    if not name:
        raise DomainRequired()
    target = await dealers.get_dealer_in_scope(uow.session, caller_id=caller.dealer_id, domain=name)
    if target is None or not caller.may("email_gateways", operation):
        raise NotPermitted()
    return target


async def _settings_of(uow: UnitOfWork, caller: Caller, domain: str | None, operation: str,
                       *, lock: bool = False) -> tuple[DomainDealer, GatewayRecord | None]:
    """The domain's dealer and its settings; `lock` serialises writes to the domain."""
    target = await _scope(uow, caller, domain, operation)
    if lock:
        await dealers.lock_domain(uow.session, target.dealer_id)
    return target, await gateway_store.get_bound_own_gateway(uow.session,
                                                             dealer_id=target.dealer_id)


async def _existing_settings_of(uow: UnitOfWork, caller: Caller, domain: str | None,
                                operation: str) -> tuple[DomainDealer, GatewayRecord]:
    """As `_settings_of`, for what needs settings to exist (a send, a check)."""
    target, current = await _settings_of(uow, caller, domain, operation)
    if current is None:
        raise NotFound(f"no email settings for domain {target.domain}", subject=target.domain)
    return target, current


def _settings(record: GatewayRecord, target: DomainDealer) -> DomainSettings:
    return DomainSettings(record.id, record.label, record.provider, record.params,
                          target.domain)


async def _again_if_deleted(attempt: Callable[[], Awaitable[T]]) -> T:
    """Runs an upsert or a delete again, in a new unit of work, when the gateway it read
    as the domain's settings was gone when it went to lock it: deleted through the
    Navixy face (`gateways/email/delete` does not take the domain lock) in between.
    The new attempt reads the domain's settings afresh, as if it had come second, so
    the race answers 200 (a new gateway, or "Removed 0 record."), never 404. These
    use cases raise `NotFound` for nothing else."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await attempt()
        except NotFound:
            continue
    return await attempt()


async def get(ctx: Context, caller: Caller, domain: str | None) -> DomainSettings:
    async with ctx.unit_of_work() as uow:
        target, current = await _settings_of(uow, caller, domain, "read")
        if current is None:
            raise NotFound()
        return _settings(current, target)


async def upsert(ctx: Context, caller: Caller, domain: str | None, build: Build,
                 actor: Actor) -> DomainSettings:
    """Creates and binds a new own gateway, or replaces the bound one (which then also
    needs the `update` permission)."""
    return await _again_if_deleted(lambda: _upsert(ctx, caller, domain, build, actor))


async def _upsert(ctx: Context, caller: Caller, domain: str | None, build: Build,
                  actor: Actor) -> DomainSettings:
    async with ctx.unit_of_work() as uow:
        target, current = await _settings_of(uow, caller, domain, "create", lock=True)
        if current is None:
            gateway = build(None)
            await destinations.check_gateway(gateway.params, ctx.settings.smtp_allowed_networks)
            gateway_id = await gateway_store.create_gateway(
                uow.session, ctx.secret_box, owner_id=target.dealer_id, gateway=gateway,
                actor=actor)
            await gateway_store.bind_gateway(uow.session, dealer_id=target.dealer_id,
                                             parent_id=target.parent_id, gateway_id=gateway_id,
                                             actor=actor)
        elif not caller.may("email_gateways", "update"):
            raise NotPermitted()
        else:
            gateway_id = current.id
            await _replace(ctx, uow, target, current, build, actor)
        uow.changes.dealers.add(target.dealer_id)
        record = await gateway_store.get_own_gateway(uow.session, owner_id=target.dealer_id,
                                                     gateway_id=gateway_id)
        return _settings(record, target)


async def replace(ctx: Context, caller: Caller, domain: str | None, build: Build,
                  actor: Actor) -> DomainSettings:
    async with ctx.unit_of_work() as uow:
        target, current = await _settings_of(uow, caller, domain, "update", lock=True)
        if current is None:
            raise NotFound()
        await _replace(ctx, uow, target, current, build, actor)
        record = await gateway_store.get_own_gateway(uow.session, owner_id=target.dealer_id,
                                                     gateway_id=current.id)
        return _settings(record, target)


async def _replace(ctx: Context, uow: UnitOfWork, target: DomainDealer,
                   current: GatewayRecord, build: Build, actor: Actor) -> None:
    gateway = build(current)
    await destinations.check_gateway(gateway.params, ctx.settings.smtp_allowed_networks)
    was_leasable = await gateway_store.update_gateway(
        uow.session, ctx.secret_box, owner_id=target.dealer_id, gateway_id=current.id,
        gateway=gateway, actor=actor)
    uow.changes.dealers.add(target.dealer_id)
    if was_leasable or gateway.leasable:
        uow.changes.children_of.add(target.dealer_id)


async def remove(ctx: Context, caller: Caller, domain: str | None, actor: Actor) -> int:
    """How many settings were removed: 0 or 1."""
    return await _again_if_deleted(lambda: _remove(ctx, caller, domain, actor))


async def _remove(ctx: Context, caller: Caller, domain: str | None, actor: Actor) -> int:
    async with ctx.unit_of_work() as uow:
        target, current = await _settings_of(uow, caller, domain, "delete", lock=True)
        if current is None:
            return 0
        was_leasable = await gateway_store.delete_gateway(uow.session, owner_id=target.dealer_id,
                                                          gateway_id=current.id, actor=actor)
        uow.changes.dealers.add(target.dealer_id)
        if was_leasable:
            uow.changes.children_of.add(target.dealer_id)
        return 1


async def send_test_message(ctx: Context, caller: Caller, domain: str | None, *,
                            to: str) -> Sent:
    async with ctx.unit_of_work() as uow:
        target, current = await _existing_settings_of(uow, caller, domain, "send_email")
        prepared = await sends.prepare(ctx, uow, target, to=to, gateway_id=current.id)
    return await sends.deliver(ctx, prepared)


async def check(ctx: Context, caller: Caller, domain: str | None, *,
                to: str | None) -> dict[str, Any]:
    """Checks the domain's settings without sending (`sends.run_check`)."""
    async with ctx.unit_of_work() as uow:
        target, current = await _existing_settings_of(uow, caller, domain, "send_email")
        prepared = await sends.prepare_check(ctx, uow, target, to=to, gateway_id=current.id)
    return await sends.run_check(ctx, prepared)

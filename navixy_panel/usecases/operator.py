"""What the platform operator does from the command line: dealers, relays, key rotation."""

from __future__ import annotations

from navixy_panel.domain.caller import OPERATOR
from navixy_panel.domain.dealers import LOGIN_BLOCKING_STATUSES, NOT_BLOCKED, DealerSummary
from navixy_panel.domain.errors import NotFound
from navixy_panel.domain.gateways import GatewayInput, GatewaySummary, PasswordGateway
from navixy_panel.mail import destinations
from navixy_panel.security.passwords import hash_password_async
from navixy_panel.services import dealers, gateway_store, rate_limits
from navixy_panel.usecases.context import Context
from navixy_panel.usecases.logins import login_failures_bucket


async def create_dealer(ctx: Context, *, login: str, password: str, title: str = "",
                        domain: str | None = None, parent_login: str | None = None,
                        permissions: dict[str, list[str]] | None = None,
                        block_status: str = NOT_BLOCKED) -> DealerSummary:
    password_hash = await hash_password_async(password)
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.create_dealer(
            uow.session, login=login, password_hash=password_hash, title=title, domain=domain,
            parent_login=parent_login, permissions=permissions, block_status=block_status)
        return DealerSummary(dealer.id, dealer.login, dealer.title, dealer.domain,
                             parent_login, dealer.block_status, None)


async def update_dealer(ctx: Context, login: str, *, password: str | None = None,
                        title: str | None = None, domain: str | None = None,
                        permissions: dict[str, list[str]] | None = None,
                        block_status: str | None = None) -> DealerSummary:
    """A new password or a blocking status ends the dealer's sessions at once."""
    password_hash = await hash_password_async(password) if password is not None else None
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.update_dealer(
            uow.session, login, password_hash=password_hash, title=title, domain=domain,
            permissions=permissions, block_status=block_status)
        uow.changes.dealers.add(dealer.id)
        if password_hash is not None or block_status in LOGIN_BLOCKING_STATUSES:
            uow.changes.everything = True  # its sessions' digests are not known here
        return DealerSummary(dealer.id, dealer.login, dealer.title, dealer.domain, None,
                             dealer.block_status, dealer.bound_gateway_id)


async def unlock_login(ctx: Context, login: str) -> int:
    """Clears the login's failure counts, so a login locked by mistyped passwords
    (code 15, Webitel 429) works again at once; returns how many failures it forgot.
    The per-address counts are keyed by address alone, shared by every login tried from
    it, so they are left to expire with their window."""
    async with ctx.unit_of_work() as uow:
        if await dealers.get_dealer(uow.session, login) is None:
            raise NotFound(f"dealer {login!r} does not exist")
        return await rate_limits.delete_bucket(uow.session, login_failures_bucket(login))


async def list_dealers(ctx: Context) -> list[DealerSummary]:
    async with ctx.unit_of_work() as uow:
        rows = await dealers.list_dealers(uow.session)
    logins = {row.id: row.login for row in rows}
    return [DealerSummary(row.id, row.login, row.title, row.domain,
                          logins.get(row.parent_id) if row.parent_id else None,
                          row.block_status, row.bound_gateway_id) for row in rows]


async def create_relay(ctx: Context, *, owner_login: str, gateway: GatewayInput) -> int:
    """Any provider name: an operator's relay (`mandrill_smtp`, …) is sent to like SMTP."""
    await destinations.check_gateway(gateway.params, ctx.settings.smtp_allowed_networks)
    async with ctx.unit_of_work() as uow:
        owner = await dealers.get_dealer(uow.session, owner_login)
        if owner is None:
            raise NotFound(f"dealer {owner_login!r} does not exist")
        gateway_id = await gateway_store.create_gateway(
            uow.session, ctx.secret_box, owner_id=owner.id, gateway=gateway, actor=OPERATOR)
        uow.changes.dealers.add(owner.id)
        if gateway.leasable:
            uow.changes.children_of.add(owner.id)
        return gateway_id


async def bind_as_operator(ctx: Context, *, login: str, gateway_id: int) -> None:
    """Binds a dealer to a gateway it may use (own or leased), as the operator."""
    async with ctx.unit_of_work() as uow:
        dealer = await dealers.get_dealer(uow.session, login)
        if dealer is None:
            raise NotFound(f"dealer {login!r} does not exist")
        await gateway_store.bind_gateway(uow.session, dealer_id=dealer.id,
                                         parent_id=dealer.parent_id, gateway_id=gateway_id,
                                         actor=OPERATOR)
        uow.changes.dealers.add(dealer.id)


async def list_gateways(ctx: Context) -> list[GatewaySummary]:
    """Every gateway with its owner; never a password."""
    async with ctx.unit_of_work() as uow:
        return await gateway_store.list_gateways(uow.session)


async def audit_auth(ctx: Context) -> list[PasswordGateway]:
    """Gateways that will stop when Microsoft or Google refuse their password."""
    async with ctx.unit_of_work() as uow:
        return await gateway_store.password_cloud_gateways(uow.session)


async def rotate_secrets(ctx: Context) -> int:
    """Re-encrypts every stored SMTP password with the newest key; returns how many."""
    async with ctx.unit_of_work() as uow:
        return await gateway_store.rotate_passwords(uow.session, ctx.secret_box)

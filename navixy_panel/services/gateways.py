"""Email gateways: what a dealer may see, use and change.

own(D) = gateways owned by D; leasable(D) = leasable gateways owned by D's
parent. Anything else answers exactly as a missing id does (code 201).

Locking: every operation that can change who may use a gateway or who is
bound to it locks the gateway row first, then dealer rows. Binding takes the
gateway row FOR SHARE, un-leasing and deleting take it FOR UPDATE, so a bind
and an un-lease of the same gateway are serialised and the second one sees
the first one's result (PostgreSQL re-reads a locked row once the lock is
granted). The fixed order (gateway, then dealer) keeps them free of deadlocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import Dealer, EmailGateway
from navixy_panel.errors import ApiError, invalid, not_found
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.services import audit
from navixy_panel.smtp_params import AUTH, FROM, PASSWORD, USER, destination, public_params

PASSWORD_PARAM = "gateway.params." + PASSWORD


@dataclass(frozen=True, slots=True)
class GatewayList:
    own: list[dict[str, Any]]
    leasable: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class GatewayInput:
    """A validated gateway as a client sent it; `params` holds every key, password included."""

    label: str
    provider: str
    leasable: bool
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UsableGateway:
    """What sending needs; the password is decrypted only for this."""

    id: int
    label: str
    params: dict[str, Any]
    password: str | None


def visible_to(dealer_id: int, parent_id: int | None) -> Any:
    """SQL condition for own(D) ∪ leasable(D)."""
    own = EmailGateway.owner_id == dealer_id
    if parent_id is None:
        return own
    return or_(own, and_(EmailGateway.owner_id == parent_id, EmailGateway.leasable))


async def list_for(session: AsyncSession, *, dealer_id: int, parent_id: int | None) -> GatewayList:
    """One statement for both lists, ordered by id."""
    rows = await session.execute(
        select(EmailGateway.id, EmailGateway.owner_id, EmailGateway.label,
               EmailGateway.provider, EmailGateway.leasable, EmailGateway.params)
        .where(visible_to(dealer_id, parent_id))
        .order_by(EmailGateway.id)
    )
    result = GatewayList([], [])
    for gateway_id, owner_id, label, provider, leasable, params in rows:
        if owner_id == dealer_id:
            result.own.append({"id": gateway_id, "leasable": leasable, "label": label,
                               "provider": provider, "params": public_params(params)})
        else:  # a sub-dealer never sees its parent's SMTP params
            entry = {"id": gateway_id, "label": label, "provider": provider}
            if params.get(FROM) is not None:  # Navixy omits null fields (its schema: string)
                entry["default_from_address"] = params[FROM]
            result.leasable.append(entry)
    return result


def is_mask(password: str | None) -> bool:
    """Null, empty and masks such as '********' all mean "keep the stored password"."""
    return password is None or password.strip("*•") == ""


def _stored_params(params: dict[str, Any]) -> dict[str, Any]:
    stored = {key: value for key, value in params.items() if key != PASSWORD}
    if not stored[AUTH]:
        stored[USER] = None  # auth off drops the user (and the password, below)
    return stored


def _audited(label: str, provider: str, leasable: bool,
             params: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "provider": provider, "leasable": leasable, **params}


async def create(session: AsyncSession, box: SecretBox | None, *, owner_id: int,
                 gateway: GatewayInput, actor: audit.Actor) -> int:
    password = gateway.params.get(PASSWORD)
    encrypted = None
    if gateway.params[AUTH] and password is not None and not is_mask(password):
        assert box is not None, "a password needs the secret box"
        encrypted = box.encrypt(password)
    row = EmailGateway(owner_id=owner_id, label=gateway.label, provider=gateway.provider,
                       leasable=gateway.leasable, params=_stored_params(gateway.params),
                       password_encrypted=encrypted)
    session.add(row)
    await session.flush()
    changes: dict[str, Any] = audit.diff({}, _audited(gateway.label, gateway.provider,
                                                      gateway.leasable, row.params))
    if encrypted is not None:
        changes[PASSWORD] = "set"
    await audit.record(session, actor, dealer_id=owner_id, action="gateway.create",
                       gateway_id=row.id, changes=changes)
    return row.id


async def _lock_own(session: AsyncSession, owner_id: int, gateway_id: int) -> EmailGateway:
    row = await session.scalar(
        select(EmailGateway)
        .where(EmailGateway.id == gateway_id, EmailGateway.owner_id == owner_id)
        .with_for_update())
    if row is None:
        raise not_found()
    return row


async def _others_bound(session: AsyncSession, gateway: EmailGateway) -> bool:
    count = await session.scalar(
        select(func.count()).select_from(Dealer)
        .where(Dealer.bound_gateway_id == gateway.id, Dealer.id != gateway.owner_id))
    return bool(count)


async def update_gateway(session: AsyncSession, box: SecretBox, *, owner_id: int,
                         gateway_id: int, gateway: GatewayInput, actor: audit.Actor) -> None:
    """Replaces the whole gateway; see SPEC section 2 for the password rule."""
    row = await _lock_own(session, owner_id, gateway_id)
    if row.provider != gateway.provider and gateway.provider != "smtp":
        raise invalid("gateway.provider", "Must be 'smtp' or the gateway's current provider.")
    if row.leasable and not gateway.leasable and await _others_bound(session, row):
        raise ApiError(261, "Entity has external links: sub-dealers are bound to this gateway")
    new_password = gateway.params.get(PASSWORD)
    encrypted = row.password_encrypted
    if not gateway.params[AUTH]:
        encrypted = None
    elif new_password is not None and not is_mask(new_password):
        encrypted = box.encrypt(new_password)
    elif encrypted is not None and destination(row.params) != destination(gateway.params):
        # A stored password is never sent to a server it was not entered for.
        raise invalid(PASSWORD_PARAM, "Enter the password again: the server, ports, TLS "
                      "settings or user changed.")
    before = _audited(row.label, row.provider, row.leasable, row.params)
    password_change = (None if encrypted == row.password_encrypted
                       else "removed" if encrypted is None else "changed")
    row.label, row.provider, row.leasable = gateway.label, gateway.provider, gateway.leasable
    row.params = _stored_params(gateway.params)
    row.password_encrypted = encrypted
    row.updated_at = func.now()
    await session.flush()
    changes: dict[str, Any] = audit.diff(before, _audited(row.label, row.provider,
                                                          row.leasable, row.params))
    if password_change:
        changes[PASSWORD] = password_change
    await audit.record(session, actor, dealer_id=owner_id, action="gateway.update",
                       gateway_id=gateway_id, changes=changes)


async def delete_gateway(session: AsyncSession, *, owner_id: int, gateway_id: int,
                         actor: audit.Actor) -> None:
    """Refused (261) while a sub-dealer is bound; the owner's own binding is dropped."""
    row = await _lock_own(session, owner_id, gateway_id)
    if await _others_bound(session, row):
        raise ApiError(261, "Entity has external links: sub-dealers are bound to this gateway")
    unbound = await session.execute(update(Dealer).where(Dealer.id == owner_id,
                                                         Dealer.bound_gateway_id == gateway_id)
                                    .values(bound_gateway_id=None))
    await session.execute(delete(EmailGateway).where(EmailGateway.id == gateway_id))
    changes: dict[str, Any] = {"label": [row.label, None]}
    if unbound.rowcount:  # type: ignore[attr-defined]
        changes["bound_gateway"] = [gateway_id, None]
    await audit.record(session, actor, dealer_id=owner_id, action="gateway.delete",
                       gateway_id=gateway_id, changes=changes)


async def _lock_usable(session: AsyncSession, *, dealer_id: int, parent_id: int | None,
                       gateway_id: int) -> EmailGateway:
    row = await session.scalar(
        select(EmailGateway)
        .where(EmailGateway.id == gateway_id, visible_to(dealer_id, parent_id))
        .with_for_update(read=True))
    if row is None:
        raise not_found()
    return row


async def bind(session: AsyncSession, *, dealer_id: int, parent_id: int | None,
               gateway_id: int, actor: audit.Actor) -> None:
    await _lock_usable(session, dealer_id=dealer_id, parent_id=parent_id, gateway_id=gateway_id)
    previous = await session.scalar(select(Dealer.bound_gateway_id)
                                    .where(Dealer.id == dealer_id).with_for_update())
    await session.execute(update(Dealer).where(Dealer.id == dealer_id)
                          .values(bound_gateway_id=gateway_id))
    await audit.record(session, actor, dealer_id=dealer_id, action="gateway.bind",
                       gateway_id=gateway_id,
                       changes={"bound_gateway": [previous, gateway_id]})


async def usable(session: AsyncSession, box: SecretBox, *, dealer_id: int,
                 parent_id: int | None, gateway_id: int) -> UsableGateway:
    row = await _lock_usable(session, dealer_id=dealer_id, parent_id=parent_id,
                             gateway_id=gateway_id)
    password = box.decrypt(row.password_encrypted) if row.password_encrypted else None
    return UsableGateway(row.id, row.label, dict(row.params), password)


async def bound_own(session: AsyncSession, *, dealer_id: int) -> EmailGateway | None:
    """The dealer's bound gateway when it owns it (Webitel's per-domain "settings")."""
    return await session.scalar(
        select(EmailGateway)
        .join(Dealer, Dealer.bound_gateway_id == EmailGateway.id)
        .where(Dealer.id == dealer_id, EmailGateway.owner_id == dealer_id))

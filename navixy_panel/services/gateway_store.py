"""Email gateways: what a dealer may see, use and change.

own(D) = gateways owned by D; leasable(D) = leasable gateways owned by D's
parent. Anything else answers exactly as a missing id does (`NotFound`).

Locking: every operation that can change who may use a gateway or who is
bound to it locks the gateway row first, then dealer rows. Binding takes the
gateway row FOR SHARE, un-leasing and deleting take it FOR UPDATE, so a bind
and an un-lease of the same gateway are serialised and the second one sees
the first one's result (PostgreSQL re-reads a locked row once the lock is
granted). The fixed order (gateway, then dealer) keeps them free of deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from navixy_panel.db.models import Dealer, EmailGateway
from navixy_panel.domain.caller import Actor
from navixy_panel.domain.errors import InUse, InvalidInput, NotFound, PasswordRequired
from navixy_panel.domain.gateways import (
    GatewayInput,
    GatewayList,
    GatewayRecord,
    GatewaySummary,
    LeasedGateway,
    PasswordGateway,
    UsableGateway,
)
from navixy_panel.domain.smtp_params import (
    AUTH,
    FROM,
    HOST,
    PASSWORD,
    USER,
    destination,
    kept_extensions,
    oauth_problems,
    password_cloud_service,
    public_params,
)
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.services import audit


def _visible_to(dealer_id: int, parent_id: int | None) -> Any:
    """SQL condition for own(D) ∪ leasable(D)."""
    own = EmailGateway.owner_id == dealer_id
    if parent_id is None:
        return own
    return or_(own, and_(EmailGateway.owner_id == parent_id, EmailGateway.leasable))


def visible_gateways(rows: Iterable[Sequence[Any]], dealer_id: int,
                     bound_gateway_id: int | None) -> GatewayList:
    """(id, owner_id, label, provider, leasable, params) rows, ordered by id, as the
    dealer may see them: own gateways whole (password None), leased ones without params."""
    result = GatewayList(bound_gateway_id, [], [])
    for gateway_id, owner_id, label, provider, leasable, params in rows:
        if owner_id == dealer_id:
            result.own.append(GatewayRecord(gateway_id, label, provider, leasable,
                                            public_params(params)))
        else:  # a sub-dealer never sees its parent's SMTP params
            result.leasable.append(LeasedGateway(gateway_id, label, provider, params.get(FROM)))
    return result


def _is_mask(password: str | None) -> bool:
    """Null, empty and masks such as '********' all mean "keep the stored password"."""
    return password is None or password.strip("*•") == ""


def _stored_params(params: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """What is stored: no password, and the extension keys an update omits kept
    from `before` (Navixy's admin panel sends the gateway back without them)."""
    stored = {key: value for key, value in kept_extensions(params, before or {}).items()
              if key != PASSWORD}
    if not stored[AUTH]:
        stored[USER] = None  # auth off drops the user (and the password, below)
    problems = oauth_problems(stored)
    if problems:
        raise InvalidInput(dict(problems))
    return stored


def _audited(label: str, provider: str, leasable: bool,
             params: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "provider": provider, "leasable": leasable, **params}


async def create_gateway(session: AsyncSession, box: SecretBox | None, *, owner_id: int,
                         gateway: GatewayInput, actor: Actor) -> int:
    password = gateway.params.get(PASSWORD)
    encrypted = None
    if gateway.params[AUTH] and password is not None and not _is_mask(password):
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
    await audit.create_entry(session, actor, dealer_id=owner_id, action="gateway.create",
                             gateway_id=row.id, changes=changes)
    return row.id


async def _lock_own(session: AsyncSession, owner_id: int, gateway_id: int) -> EmailGateway:
    row = await session.scalar(
        select(EmailGateway)
        .where(EmailGateway.id == gateway_id, EmailGateway.owner_id == owner_id)
        .with_for_update())
    if row is None:
        raise NotFound()
    return row


async def _others_bound(session: AsyncSession, gateway: EmailGateway) -> bool:
    count = await session.scalar(
        select(func.count()).select_from(Dealer)
        .where(Dealer.bound_gateway_id == gateway.id, Dealer.id != gateway.owner_id))
    return bool(count)


async def update_gateway(session: AsyncSession, box: SecretBox, *, owner_id: int,
                         gateway_id: int, gateway: GatewayInput, actor: Actor) -> bool:
    """Replaces the whole gateway; returns whether it was leasable before. The password:
    a new one replaces the stored one; null, empty or a mask keeps it, unless the
    destination changed (`PasswordRequired`); `mail.smtp.auth` off removes it."""
    row = await _lock_own(session, owner_id, gateway_id)
    was_leasable = row.leasable
    if row.provider != gateway.provider and gateway.provider != "smtp":
        raise InvalidInput.of("provider", "Must be 'smtp' or the gateway's current provider.")
    if row.leasable and not gateway.leasable and await _others_bound(session, row):
        raise InUse()
    new_password = gateway.params.get(PASSWORD)
    params = _stored_params(gateway.params, row.params)
    encrypted = row.password_encrypted
    if not gateway.params[AUTH]:
        encrypted = None
    elif new_password is not None and not _is_mask(new_password):
        encrypted = box.encrypt(new_password)
    elif encrypted is not None and destination(row.params) != destination(params):
        # A stored password is never sent to a server it was not entered for.
        raise PasswordRequired()
    before = _audited(row.label, row.provider, row.leasable, row.params)
    password_change = (None if encrypted == row.password_encrypted
                       else "removed" if encrypted is None else "changed")
    row.label, row.provider, row.leasable = gateway.label, gateway.provider, gateway.leasable
    row.params = params
    row.password_encrypted = encrypted
    row.updated_at = func.now()
    await session.flush()
    changes: dict[str, Any] = audit.diff(before, _audited(row.label, row.provider,
                                                          row.leasable, row.params))
    if password_change:
        changes[PASSWORD] = password_change
    await audit.create_entry(session, actor, dealer_id=owner_id, action="gateway.update",
                             gateway_id=gateway_id, changes=changes)
    return was_leasable


async def delete_gateway(session: AsyncSession, *, owner_id: int, gateway_id: int,
                         actor: Actor) -> bool:
    """Refused (`InUse`) while a sub-dealer is bound; the owner's own binding is dropped.
    Returns whether the gateway was leasable."""
    row = await _lock_own(session, owner_id, gateway_id)
    was_leasable = row.leasable
    if await _others_bound(session, row):
        raise InUse()
    unbound = await session.execute(update(Dealer).where(Dealer.id == owner_id,
                                                         Dealer.bound_gateway_id == gateway_id)
                                    .values(bound_gateway_id=None))
    await session.execute(delete(EmailGateway).where(EmailGateway.id == gateway_id))
    changes: dict[str, Any] = {"label": [row.label, None]}
    if unbound.rowcount:  # type: ignore[attr-defined]
        changes["bound_gateway"] = [gateway_id, None]
    await audit.create_entry(session, actor, dealer_id=owner_id, action="gateway.delete",
                             gateway_id=gateway_id, changes=changes)
    return was_leasable


async def _lock_usable(session: AsyncSession, *, dealer_id: int, parent_id: int | None,
                       gateway_id: int) -> EmailGateway:
    row = await session.scalar(
        select(EmailGateway)
        .where(EmailGateway.id == gateway_id, _visible_to(dealer_id, parent_id))
        .with_for_update(read=True))
    if row is None:
        raise NotFound()
    return row


async def bind_gateway(session: AsyncSession, *, dealer_id: int, parent_id: int | None,
                       gateway_id: int, actor: Actor) -> None:
    await _lock_usable(session, dealer_id=dealer_id, parent_id=parent_id, gateway_id=gateway_id)
    previous = await session.scalar(select(Dealer.bound_gateway_id)
                                    .where(Dealer.id == dealer_id).with_for_update())
    await session.execute(update(Dealer).where(Dealer.id == dealer_id)
                          .values(bound_gateway_id=gateway_id))
    await audit.create_entry(session, actor, dealer_id=dealer_id, action="gateway.bind",
                             gateway_id=gateway_id,
                             changes={} if previous == gateway_id
                             else {"bound_gateway": [previous, gateway_id]})


async def get_usable_gateway(session: AsyncSession, box: SecretBox, *, dealer_id: int,
                             parent_id: int | None, gateway_id: int) -> UsableGateway:
    row = await _lock_usable(session, dealer_id=dealer_id, parent_id=parent_id,
                             gateway_id=gateway_id)
    password = box.decrypt(row.password_encrypted) if row.password_encrypted else None
    return UsableGateway(row.id, row.owner_id, row.label, dict(row.params), password)


def _record(row: EmailGateway) -> GatewayRecord:
    return GatewayRecord(row.id, row.label, row.provider, row.leasable, dict(row.params))


async def get_bound_own_gateway(session: AsyncSession, *,
                                dealer_id: int) -> GatewayRecord | None:
    """The dealer's bound gateway when it owns it (Webitel's per-domain "settings")."""
    row = await session.scalar(
        select(EmailGateway)
        .join(Dealer, Dealer.bound_gateway_id == EmailGateway.id)
        .where(Dealer.id == dealer_id, EmailGateway.owner_id == dealer_id))
    return None if row is None else _record(row)


async def get_own_gateway(session: AsyncSession, *, owner_id: int,
                          gateway_id: int) -> GatewayRecord:
    row = await session.scalar(select(EmailGateway).where(
        EmailGateway.id == gateway_id, EmailGateway.owner_id == owner_id))
    if row is None:
        raise NotFound()
    return _record(row)


async def password_cloud_gateways(session: AsyncSession) -> list[PasswordGateway]:
    """Gateways logging in with a password to Microsoft 365 or Google hosts, with the
    number of dealers bound to each (who stops receiving mail when it fails)."""
    bound_dealer = aliased(Dealer)  # not the owner joined below
    bound = (select(func.count()).select_from(bound_dealer)
             .where(bound_dealer.bound_gateway_id == EmailGateway.id)
             .correlate(EmailGateway).scalar_subquery())
    rows = await session.execute(
        select(EmailGateway.id, Dealer.login, EmailGateway.label, EmailGateway.params, bound)
        .join(Dealer, Dealer.id == EmailGateway.owner_id)
        .where(EmailGateway.params["mail.smtp.auth"].as_boolean())
        .order_by(EmailGateway.id))
    found = []
    for gateway_id, owner, label, params, count in rows:
        service = password_cloud_service(params)
        if service is not None:
            found.append(PasswordGateway(gateway_id, owner, label, str(params[HOST]), service,
                                         int(count)))
    return found


async def list_gateways(session: AsyncSession) -> list[GatewaySummary]:
    """Every gateway, for the operator's listing."""
    rows = await session.execute(
        select(EmailGateway.id, Dealer.login, EmailGateway.label, EmailGateway.provider,
               EmailGateway.leasable, EmailGateway.params)
        .join(Dealer, Dealer.id == EmailGateway.owner_id).order_by(EmailGateway.id))
    return [GatewaySummary(gateway_id, owner, label, provider, leasable, params.get(HOST))
            for gateway_id, owner, label, provider, leasable, params in rows]


async def rotate_passwords(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypts every stored SMTP password with the box's newest key; returns how many."""
    rows = (await session.execute(
        select(EmailGateway.id, EmailGateway.password_encrypted)
        .where(EmailGateway.password_encrypted.is_not(None))
        .with_for_update())).all()
    for gateway_id, token in rows:
        assert token is not None  # selected above
        await session.execute(update(EmailGateway).where(EmailGateway.id == gateway_id)
                              .values(password_encrypted=box.rotate(token)))
    return len(rows)


async def get_gateway_for_delivery(session: AsyncSession, box: SecretBox,
                                   gateway_id: int) -> UsableGateway | None:
    """A gateway by id, for the delivery workers: which dealer may use it was decided
    when the dealer bound it (binding checks the visibility rule), so none is
    checked here. None once deleted."""
    row = await session.get(EmailGateway, gateway_id)
    if row is None:
        return None
    password = box.decrypt(row.password_encrypted) if row.password_encrypted else None
    return UsableGateway(row.id, row.owner_id, row.label, dict(row.params), password)

"""Email gateways: what a dealer may see, use and change.

own(D) = gateways owned by D; leasable(D) = leasable gateways owned by D's
parent. Anything else answers exactly as a missing id does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.db.models import EmailGateway
from navixy_panel.smtp_params import FROM, public_params


@dataclass(frozen=True, slots=True)
class GatewayList:
    own: list[dict[str, Any]]
    leasable: list[dict[str, Any]]


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
            result.leasable.append({"id": gateway_id, "label": label, "provider": provider,
                                    "default_from_address": params.get(FROM)})
    return result


async def create(session: AsyncSession, *, owner_id: int, label: str, provider: str,
                 leasable: bool, params: dict[str, Any],
                 password_encrypted: bytes | None) -> int:
    """`params` must already be validated and complete (see smtp_params)."""
    gateway = EmailGateway(owner_id=owner_id, label=label, provider=provider, leasable=leasable,
                           params=params, password_encrypted=password_encrypted)
    session.add(gateway)
    await session.flush()
    return gateway.id

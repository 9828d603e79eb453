"""Test messages: which gateway, which sender, how often.

Preparing a send happens inside the request's transaction (gateway lookup
with its visibility rule, the rate counter); the SMTP exchange itself runs
after the caller has committed, so no row lock is held across the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel import mailer
from navixy_panel.db.models import Dealer
from navixy_panel.errors import ApiError, invalid
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.services import gateways, rate_limits
from navixy_panel.settings import Settings
from navixy_panel.smtp_params import FROM

SUBJECT = "Test message from navixy-panel"


class DealerRef(Protocol):
    """The dealer a message is sent for (a session's Caller, or a Webitel domain's dealer)."""

    @property
    def dealer_id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def bound_gateway_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PreparedSend:
    params: dict[str, Any]
    password: str | None
    message: EmailMessage


async def prepare_test(session: AsyncSession, box: SecretBox, settings: Settings, *,
                       dealer: DealerRef, to: str, gateway_id: int | None,
                       gateway_param: str) -> PreparedSend:
    """Code 7 when no gateway is given or bound, or no sender is known; 201 for a gateway
    outside own ∪ leasable; 15 past the dealer's test-send rate."""
    chosen = gateway_id if gateway_id is not None else dealer.bound_gateway_id
    if chosen is None:
        raise invalid(gateway_param, "No gateway is bound; give a gateway id.")
    gateway = await gateways.usable(session, box, dealer_id=dealer.dealer_id,
                                    parent_id=dealer.parent_id, gateway_id=chosen)
    email_from, footer = (await session.execute(
        select(Dealer.email_from, Dealer.email_footer).where(Dealer.id == dealer.dealer_id)
    )).one()
    sender = gateway.params.get(FROM) or email_from
    if not sender:
        raise invalid("email_from", "No sender address: set the gateway's default_from_address "
                      "or the dealer's email_from.")
    sends = await rate_limits.hit(session, f"test-sends:{dealer.dealer_id}", 60)
    if sends > settings.test_sends_per_minute:
        raise ApiError(15)
    body = (f"This is a test message sent through the email gateway \"{gateway.label}\".\n"
            "If you can read it, the gateway works.")
    message = mailer.build_message(sender=sender, to=to, subject=SUBJECT, body=body,
                                   footer=footer)
    return PreparedSend(gateway.params, gateway.password, message)

"""Test messages: which gateway, which sender, how often, then the SMTP exchange.

Two phases in one use case: a unit of work reserves the rate slot and reads
the gateway (with its visibility rule) and the sender identity, and commits;
only then the SMTP exchange runs, so no row lock or pooled connection is held
across the network. A failure through a gateway leased from the parent tells
only its kind and reply code: the parent's host, user and replies stay private.
The exchange gets what is left of the request's time-out, less a margin to
answer in, so a silent server is a send failure, not a request cut off.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol

from navixy_panel.domain.dealers import SenderIdentity
from navixy_panel.domain.errors import InvalidInput, RateLimited, SendFailed
from navixy_panel.domain.gateways import UsableGateway
from navixy_panel.domain.smtp_params import FROM
from navixy_panel.mail import destinations, mailer
from navixy_panel.mail.message import build_test_message
from navixy_panel.services import dealers, gateway_store, rate_limits
from navixy_panel.usecases.context import Context, UnitOfWork

# Seconds of the request's time-out kept for answering after the SMTP exchange gives up.
ANSWER_MARGIN_SECONDS = 1.0


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
    gateway: UsableGateway
    message: EmailMessage
    leased: bool


async def send_test_message(ctx: Context, dealer: DealerRef, *, to: str,
                    gateway_id: int | None) -> mailer.Sent:
    """Through `gateway_id`, else the bound gateway (none: `InvalidInput` on gateway_id)."""
    async with ctx.unit_of_work() as uow:
        prepared = await prepare(ctx, uow, dealer, to=to, gateway_id=gateway_id)
    return await deliver(ctx, prepared)


async def prepare(ctx: Context, uow: UnitOfWork, dealer: DealerRef, *, to: str,
                  gateway_id: int | None) -> PreparedSend:
    """The first phase, inside the caller's unit of work."""
    gateway, sender, identity = await _reserve(ctx, uow, dealer, gateway_id)
    message = build_test_message(sender=sender, to=to, gateway_label=gateway.label,
                                 footer=identity.email_footer)
    return PreparedSend(gateway, message, leased=gateway.owner_id != dealer.dealer_id)


async def _reserve(ctx: Context, uow: UnitOfWork, dealer: DealerRef,
                   gateway_id: int | None) -> tuple[UsableGateway, str, SenderIdentity]:
    """The gateway, the sender and a slot of the test-send rate limit (checks count too:
    each one is a connection and a login at the relay, like a send)."""
    chosen = gateway_id if gateway_id is not None else dealer.bound_gateway_id
    if chosen is None:
        raise InvalidInput.of("gateway_id", "No gateway is bound; give a gateway id.")
    gateway = await gateway_store.get_usable_gateway(
        uow.session, ctx.secret_box, dealer_id=dealer.dealer_id, parent_id=dealer.parent_id,
        gateway_id=chosen)
    identity = await dealers.get_sender_identity(uow.session, dealer.dealer_id)
    sender = gateway.params.get(FROM) or identity.email_from
    if not sender:
        raise InvalidInput.of("email_from", "No sender address: set the gateway's "
                              "default_from_address or the dealer's email_from.")
    sends = await rate_limits.hit(uow.session, f"test-sends:{dealer.dealer_id}", 60)
    if sends > ctx.settings.test_sends_per_minute:
        raise RateLimited()
    return gateway, sender, identity


async def deliver(ctx: Context, prepared: PreparedSend) -> mailer.Sent:
    """The second phase, after the commit."""
    gateway = prepared.gateway
    try:
        sent = await mailer.send(
            gateway.params, gateway.password, prepared.message,
            rules=destinations.policy(ctx.settings.smtp_allowed_networks),
            time_budget=ctx.remaining_time() - ANSWER_MARGIN_SECONDS,
            ca_pem=ctx.settings.tls_ca_pem)
    except SendFailed as failure:
        ctx.observe_send("failed")
        if prepared.leased:
            raise failure.redacted() from None
        raise
    ctx.observe_send("sent")
    return sent


@dataclass(frozen=True, slots=True)
class PreparedCheck:
    gateway: UsableGateway
    sender: str
    to: str
    leased: bool


async def prepare_check(ctx: Context, uow: UnitOfWork, dealer: DealerRef, *, to: str | None,
                        gateway_id: int | None) -> PreparedCheck:
    """The first phase of a check, inside the caller's unit of work. Without `to`,
    RCPT TO names the sender, an address every relay of its own should accept."""
    gateway, sender, _identity = await _reserve(ctx, uow, dealer, gateway_id)
    address = parseaddr(sender)[1] or sender
    return PreparedCheck(gateway, address, to or address,
                         leased=gateway.owner_id != dealer.dealer_id)


async def check(ctx: Context, dealer: DealerRef, *, to: str | None,
                gateway_id: int | None) -> dict[str, Any]:
    """Checks `gateway_id` (else the bound gateway) without sending."""
    async with ctx.unit_of_work() as uow:
        prepared = await prepare_check(ctx, uow, dealer, to=to, gateway_id=gateway_id)
    return await run_check(ctx, prepared)


async def run_check(ctx: Context, prepared: PreparedCheck) -> dict[str, Any]:
    """The SMTP session of a send up to RCPT TO, then RSET: the report both faces
    answer. Through a leased gateway, only each stage's pass or fail and reply code:
    the parent's host, certificate and replies stay private."""
    gateway = prepared.gateway
    checked = await mailer.check(
        gateway.params, gateway.password, sender=prepared.sender, to=prepared.to,
        rules=destinations.policy(ctx.settings.smtp_allowed_networks),
        time_budget=ctx.remaining_time() - ANSWER_MARGIN_SECONDS,
        ca_pem=ctx.settings.tls_ca_pem)
    if prepared.leased:
        return {"passed": checked.passed,
                "stages": [{"stage": stage.name, "result": _result(stage.passed),
                            "code": stage.code} for stage in checked.stages]}
    certificate = checked.certificate
    return {
        "passed": checked.passed,
        "stages": [{"stage": stage.name, "result": _result(stage.passed), "ms": stage.ms,
                    "code": stage.code, "error": stage.error} for stage in checked.stages],
        "extensions": checked.extensions,
        "auth_mechanisms": checked.auth_mechanisms,
        "certificate": None if certificate is None else {
            "subject": certificate.subject, "issuer": certificate.issuer,
            "expires": certificate.expires},
    }


def _result(passed: bool) -> str:
    return "pass" if passed else "fail"

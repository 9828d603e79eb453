"""What the delivery workers (`delivery/`) do with the queue, one transaction each.

A worker holding a gateway's connection slot calls `exchange` after each batch: the
outcomes of the batch it sent are recorded, its slot lease renewed and the next
batch claimed, all in one transaction, so the database sees one short transaction
per batch rather than several per message, and no transaction stays open while
SMTP runs. What an outcome means (sent, deferred with back-off, failed, expired)
is decided here from `domain.delivery`; the SMTP session itself is the worker's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from navixy_panel.domain import delivery as d
from navixy_panel.domain.errors import InvalidInput, SendFailed, SendFailure
from navixy_panel.domain.gateways import UsableGateway
from navixy_panel.domain.smtp_params import FROM
from navixy_panel.mail.mailer import Delivered
from navixy_panel.mail.message import build_delivery
from navixy_panel.services import gateway_store, queue
from navixy_panel.usecases.context import Context

# The channel submissions NOTIFY on (the workers LISTEN on a direct connection).
WAKE_CHANNEL = queue.WAKE_CHANNEL
BATCH = 20  # messages claimed at once by one connection
PER_DEALER = 10  # of them, at most this many from one dealer
LOG_RETENTION_SECONDS = 30 * 86400.0  # a finished message's row (its body: the setting)


@dataclass(frozen=True, slots=True)
class Lane:
    """One SMTP connection's right to a gateway: its slot, held by this instance."""

    gateway_id: int
    slot: int
    holder: str


@dataclass(slots=True)
class Outgoing:
    claimed: queue.Claimed
    sender: str  # the bare address for MAIL FROM
    recipients: list[str]  # those still pending
    data: bytes


@dataclass(slots=True)
class Batch:
    kept: bool  # False: the slot is no longer ours (or the gateway is gone): stop
    gateway: UsableGateway | None = None
    messages: list[Outgoing] = field(default_factory=list)
    settled: list[dict[str, Any]] = field(default_factory=list)  # finished without SMTP

    @property
    def ids(self) -> list[int]:
        return [item.claimed.id for item in self.messages]


async def next_gateways(ctx: Context, limit: int) -> list[int]:
    """Finishes what no gateway can take, then names gateways with due work."""
    async with ctx.unit_of_work() as uow:
        await queue.fail_unroutable(uow.session,
                                    max_age_seconds=ctx.settings.delivery_max_age_seconds)
        return await queue.gateways_with_work(uow.session, limit)


async def take_slot(ctx: Context, gateway_id: int, holder: str) -> Lane | None:
    async with ctx.unit_of_work() as uow:
        slot = await queue.take_slot(
            uow.session, gateway_id=gateway_id, holder=holder,
            cap=ctx.settings.delivery_connections_per_gateway,
            lease_seconds=ctx.settings.delivery_lease_seconds)
    return None if slot is None else Lane(gateway_id, slot, holder)


Health = tuple[bool, str | None]  # the gateway's last batch: success, or the failure kind


async def _record(ctx: Context, session: Any, lane: Lane, results: list[dict[str, Any]],
                  health: Health | None) -> None:
    await queue.settle(session, results, holder=lane.holder)
    if health is not None:
        await queue.record_health(session, lane.gateway_id, success=health[0],
                                  failure_kind=health[1],
                                  backoff_base=min(ctx.settings.delivery_retry_base_seconds,
                                                   60.0))


async def exchange(ctx: Context, lane: Lane, results: list[dict[str, Any]], *,
                   health: Health | None) -> Batch:
    """Records `results` (and the gateway's health), renews the slot and claims the
    next batch."""
    settings = ctx.settings
    async with ctx.unit_of_work() as uow:
        session = uow.session
        await _record(ctx, session, lane, results, health)
        kept = await queue.renew_slot(session, gateway_id=lane.gateway_id, slot=lane.slot,
                                      holder=lane.holder,
                                      lease_seconds=settings.delivery_lease_seconds)
        gateway = await gateway_store.get_gateway_for_delivery(session, ctx.secret_box,
                                                               lane.gateway_id)
        if not kept or gateway is None:
            return Batch(kept=False)
        claimed = await queue.claim(session, gateway_id=lane.gateway_id, holder=lane.holder,
                                    batch=BATCH, per_dealer=PER_DEALER,
                                    lease_seconds=settings.delivery_lease_seconds)
    batch = Batch(kept=True, gateway=gateway)
    for message in claimed:
        prepared = _prepare(message, gateway)
        if isinstance(prepared, Outgoing):
            batch.messages.append(prepared)
        else:
            batch.settled.append(prepared)
    return batch


async def extend(ctx: Context, lane: Lane, ids: list[int]) -> None:
    """Keeps a slow batch's messages ours (and the slot) while it is still being sent."""
    async with ctx.unit_of_work() as uow:
        await queue.extend_lease(uow.session, ids, holder=lane.holder,
                                 lease_seconds=ctx.settings.delivery_lease_seconds)
        await queue.renew_slot(uow.session, gateway_id=lane.gateway_id, slot=lane.slot,
                               holder=lane.holder,
                               lease_seconds=ctx.settings.delivery_lease_seconds)


async def leave(ctx: Context, lane: Lane, results: list[dict[str, Any]],
                unsent: list[int], health: Health | None) -> None:
    """Records what was done (and the gateway's health), hands back what was not, frees
    the slot: one transaction."""
    async with ctx.unit_of_work() as uow:
        await _record(ctx, uow.session, lane, results, health)
        await queue.release(uow.session, unsent, holder=lane.holder)
        await queue.release_slot(uow.session, gateway_id=lane.gateway_id, slot=lane.slot,
                                 holder=lane.holder)


async def sweep(ctx: Context) -> tuple[int, int]:
    """Retention: bodies after the configured time, log rows after 30 days."""
    async with ctx.unit_of_work() as uow:
        return await queue.purge(uow.session,
                                 bodies_after_seconds=ctx.settings.message_retention_seconds,
                                 rows_after_seconds=LOG_RETENTION_SECONDS)



async def depth(ctx: Context) -> tuple[dict[str, int], float]:
    async with ctx.unit_of_work() as uow:
        return await queue.depth(uow.session)


def _prepare(message: queue.Claimed, gateway: UsableGateway) -> Outgoing | dict[str, Any]:
    sender = gateway.params.get(FROM) or message.email_from
    pending = [entry["address"] for entry in message.recipients
               if entry["status"] == d.PENDING]
    if not sender:
        return _finish(message, gateway, d.FAILED, d.NO_SENDER, "route", None,
                       "no sender address: set the gateway's default_from_address or the "
                       "dealer's email_from", 0)
    if message.content is None or not pending:  # nothing left to send (retention)
        return _finish(message, gateway, d.EXPIRED, d.EXPIRED, "route", None, None, 0)
    try:
        data = build_delivery(message.content, sender=sender, subject=message.subject,
                              message_id=message.message_id, footer=message.email_footer)
    except InvalidInput:
        return _finish(message, gateway, d.FAILED, d.NO_SENDER, "route", None,
                       "the sender address is not valid", 0)
    return Outgoing(message, parseaddr(sender)[1] or sender, pending, data)


def delivered(item: Outgoing, reply: Delivered, gateway: UsableGateway, *,
              retry_base: float, max_age: float) -> dict[str, Any]:
    """After DATA (or every RCPT refused): 2xx to RCPT and DATA sent, 5xx failed, 4xx
    pending for the next attempt."""
    codes = {answer.address: answer.code for answer in reply.recipients}
    data_status = d.outcome(reply.data_code) if reply.data_code is not None else None
    recipients = []
    for entry in item.claimed.recipients:
        if entry["status"] != d.PENDING or entry["address"] not in codes:
            recipients.append(entry)
            continue
        code: int | None = codes[entry["address"]]
        status = d.outcome(code)
        if status == d.SENT and data_status is not None:
            status, code = data_status, (code if data_status == d.SENT else reply.data_code)
        elif status == d.SENT:  # accepted, but no DATA followed (a later refusal)
            status = d.DEFERRED
        recipients.append({"address": entry["address"],
                           "status": d.PENDING if status == d.DEFERRED else status,
                           "reply_code": code})
    stage = "data" if reply.data_code is not None else "rcpt_to"
    last = reply.data_code if reply.data_code is not None else (
        reply.recipients[-1].code if reply.recipients else None)
    return _settled(item.claimed, gateway, recipients, stage, last, reply.data_text, reply.ms,
                    None, retry_base=retry_base, max_age=max_age)


def failed(item: Outgoing | queue.Claimed, failure: SendFailed, gateway: UsableGateway, *,
           retry_base: float, max_age: float) -> dict[str, Any]:
    """A 5xx to MAIL FROM or DATA fails the message; anything else (4xx, connection,
    time-out, TLS, login) defers it."""
    message = item.claimed if isinstance(item, Outgoing) else item
    stage = getattr(failure, "stage", None) or "connect"
    final = (failure.kind is SendFailure.REJECTED and failure.smtp_code is not None
             and 500 <= failure.smtp_code < 600)
    recipients = [
        {**entry, "status": d.FAILED, "reply_code": failure.smtp_code}
        if final and entry["status"] == d.PENDING else entry
        for entry in message.recipients]
    return _settled(message, gateway, recipients, stage, failure.smtp_code, str(failure), 0,
                    failure.kind.name.lower(), retry_base=retry_base, max_age=max_age)


def _settled(message: queue.Claimed, gateway: UsableGateway, recipients: list[dict[str, Any]],
             stage: str, code: int | None, text: str | None, ms: int, kind: str | None, *,
             retry_base: float, max_age: float) -> dict[str, Any]:
    states = [d.RecipientState(entry["address"], entry["status"]) for entry in recipients]
    status = d.final_status(states)
    reason = None
    delay: float | None = None
    if status is None:
        delay = d.retry_delay(message.attempt_count + 1, retry_base)
        age = (dt.datetime.now(dt.UTC) - message.created_at).total_seconds()
        if age + delay > max_age:
            status, reason = d.EXPIRED, d.EXPIRED
            recipients = [{**entry, "status": d.FAILED} if entry["status"] == d.PENDING
                          else entry for entry in recipients]
            delay = None
        else:
            status = d.DEFERRED
    elif status != d.SENT:
        reason = d.REJECTED
    attempt = _attempt(gateway, stage, code, text, ms, kind)
    return {"id": message.id, "status": status, "reason": reason, "recipients": recipients,
            "attempt": attempt, "delay": delay, "finished": status not in d.UNFINISHED,
            "gateway_id": gateway.id}


def _finish(message: queue.Claimed, gateway: UsableGateway, status: str, reason: str,
            stage: str, code: int | None, text: str | None, ms: int) -> dict[str, Any]:
    recipients = [{**entry, "status": d.FAILED} if entry["status"] == d.PENDING else entry
                  for entry in message.recipients]
    return {"id": message.id, "status": status, "reason": reason, "recipients": recipients,
            "attempt": _attempt(gateway, stage, code, text, ms, None), "delay": None,
            "finished": True, "gateway_id": gateway.id}


def _attempt(gateway: UsableGateway, stage: str, code: int | None, text: str | None, ms: int,
             kind: str | None) -> dict[str, Any]:
    return {"time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "gateway_id": gateway.id, "owner_id": gateway.owner_id, "stage": stage,
            "kind": kind, "reply_code": code, "reply_text": text, "duration_ms": ms}

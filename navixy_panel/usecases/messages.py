"""Submitting messages and reading what became of them.

`submit` is what both ways in (HTTP `mailapi/`, SMTP `submission/`) call: the key,
the dealer, the limits and the insert are one transaction, so a refusal queues
nothing and an answer of "queued" means the row is committed. The checks run
cheapest first and the idempotency key before the quota, so a retried request
gets the first answer even when the queue filled up since.

Reading applies the leased-gateway rule: an attempt through a gateway the reader
does not own shows its stage, reply code and kind only, never the relay's reply
text (which may name its host).
"""

from __future__ import annotations

import datetime as dt
import uuid
from email.utils import formatdate
from typing import Any

from navixy_panel.domain import delivery as d
from navixy_panel.domain.delivery import (
    Accepted,
    Attempt,
    GatewayHealthView,
    KeyHolder,
    MessageView,
    RecipientState,
    Submission,
)
from navixy_panel.domain.errors import (
    NotFound,
    OutsideSubtree,
    QuotaExceeded,
    RateLimited,
    TooLarge,
)
from navixy_panel.mail.message import pack_parts, pack_raw
from navixy_panel.services import queue
from navixy_panel.usecases import keys
from navixy_panel.usecases.context import Context, UnitOfWork

MESSAGE_ID_DOMAIN = "navixy-panel"


async def submit(ctx: Context, secret: str, submission: Submission) -> Accepted:
    if submission.size() > ctx.settings.message_max_bytes:
        raise TooLarge()
    async with ctx.unit_of_work(raw=True) as uow:
        holder = await keys.holder_in(uow, secret)
        accepted = await _submit_in(ctx, uow, holder, submission)
    if not accepted.duplicate:
        ctx.wake_delivery()
    return accepted


async def _submit_in(ctx: Context, uow: UnitOfWork, holder: KeyHolder,
                     submission: Submission) -> Accepted:
    if not ctx.rates().take(holder.key_id):
        raise RateLimited()
    dealer_id = await keys.resolve_dealer(uow, holder, submission.dealer)
    session, key = uow.db, submission.idempotency_key
    if key is not None:
        earlier = await queue.find_idempotent(session, dealer_id, key)
        if earlier is not None:
            return Accepted(str(earlier.id), earlier.status, duplicate=True)
    if await queue.over_quota(session, dealer_id, ctx.settings.dealer_queue_quota):
        raise QuotaExceeded()
    recipients = [*submission.to, *submission.cc]
    if submission.raw is not None:
        content = pack_raw(submission.raw, to=recipients, sender=submission.sender)
    else:
        content = pack_parts(
            to=list(submission.to), cc=list(submission.cc), text=submission.text,
            html=submission.html, reply_to=submission.reply_to, sender=submission.sender,
            date=formatdate(localtime=False),
            attachments=[{"filename": item.filename, "content_type": item.content_type,
                          "content_base64": item.content_base64}
                         for item in submission.attachments])
    values: dict[str, Any] = {
        "dealer_id": dealer_id, "key_id": holder.key_id,
        "priority": d.priority_rank(submission.priority), "idempotency_key": key,
        "message_id": f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>",
        "subject": submission.subject, "content": content, "size": submission.size(),
        "recipients": [{"address": address, "status": d.PENDING, "reply_code": None}
                       for address in recipients]}
    stored = await queue.insert_message(session, **values)
    if stored is None and key is not None:
        # Taken by a message committed since we looked, or by one older than 24 hours.
        earlier = await queue.find_idempotent(session, dealer_id, key)
        if earlier is not None:
            return Accepted(str(earlier.id), earlier.status, duplicate=True)
        await queue.free_idempotency_key(session, dealer_id, key)
        stored = await queue.insert_message(session, **values)
    assert stored is not None
    return Accepted(str(stored.id), stored.status, stored.duplicate)


async def read_with_key(ctx: Context, secret: str, message_id: str) -> MessageView:
    """A message of the key's dealer or its sub-dealers; NotFound for any other and for
    a missing one alike."""
    async with ctx.unit_of_work() as uow:
        holder = await keys.holder_in(uow, secret)
        return await _read_in(uow, holder.dealer_id, message_id)


async def read_for_dealer(ctx: Context, dealer_id: int, message_id: str) -> MessageView:
    async with ctx.unit_of_work() as uow:
        return await _read_in(uow, dealer_id, message_id)


async def _read_in(uow: UnitOfWork, viewer_id: int, message_id: str) -> MessageView:
    number = _number(message_id)
    row = None if number is None else await queue.get_message(uow.session, number)
    if row is None:
        raise NotFound()
    if row.dealer_id != viewer_id:
        holder = KeyHolder(0, viewer_id)
        try:
            await keys.resolve_dealer(uow, holder, int(row.dealer_id))
        except OutsideSubtree:  # as if it did not exist
            raise NotFound() from None
    return view(row, viewer_id)


async def list_for_dealer(ctx: Context, viewer_id: int, *, dealer_id: int | None,
                          limit: int, offset: int, status: str | None,
                          since: dt.datetime | None,
                          until: dt.datetime | None) -> tuple[list[MessageView], int]:
    """The viewer's messages, or a sub-dealer's at any depth (NotFound otherwise)."""
    async with ctx.unit_of_work() as uow:
        target = viewer_id
        if dealer_id is not None and dealer_id != viewer_id:
            try:
                target = await keys.resolve_dealer(uow, KeyHolder(0, viewer_id), dealer_id)
            except OutsideSubtree:
                raise NotFound() from None
        rows, count = await queue.list_messages(uow.session, dealer_id=target, limit=limit,
                                                offset=offset, status=status, since=since,
                                                until=until)
    return [view(row, viewer_id) for row in rows], count


async def health(ctx: Context, dealer_id: int,
                 parent_id: int | None) -> list[GatewayHealthView]:
    """From real deliveries: `failing` while the last outcome was a failure, `ok` after
    a success, `idle` before either."""
    async with ctx.unit_of_work() as uow:
        rows = await queue.gateway_health(uow.session, dealer_id=dealer_id,
                                          parent_id=parent_id)
    found = []
    for row in rows:
        if row.failures_in_row:
            state = "failing"
        elif row.last_success_at is not None:
            state = "ok"
        else:
            state = "idle"
        found.append(GatewayHealthView(row.id, state, _iso(row.last_success_at),
                                       _iso(row.last_failure_at), row.last_failure_kind,
                                       int(row.queued)))
    return found


def view(row: Any, viewer_id: int) -> MessageView:
    attempts = []
    for entry in row.attempts:
        own = entry.get("owner_id") == viewer_id
        attempts.append(Attempt(entry["time"], entry.get("gateway_id"), entry["stage"],
                                entry.get("reply_code"),
                                entry.get("reply_text") if own else None,
                                entry.get("duration_ms", 0), entry.get("kind")))
    unfinished = row.status in d.UNFINISHED
    return MessageView(
        id=str(row.id), dealer_id=row.dealer_id, status=row.status, reason=row.reason,
        priority=d.priority_name(row.priority), created=_iso(row.created_at) or "",
        finished=_iso(row.finished_at), subject=row.subject,
        to=[entry["address"] for entry in row.recipients], gateway_id=row.gateway_id,
        next_attempt=_iso(row.next_attempt_at) if unfinished else None, attempts=attempts,
        recipients=[RecipientState(entry["address"], entry["status"], entry.get("reply_code"))
                    for entry in row.recipients])


def _number(message_id: str) -> int | None:
    if not message_id.isascii() or not message_id.isdigit() or len(message_id) > 18:
        return None
    return int(message_id)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")

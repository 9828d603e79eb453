"""`gateways/email/messages/list|read` and `gateways/email/health`: what a dealer sees of
its delivered mail and of its gateways' real deliveries (use cases: usecases/messages.py,
which applies the leased-gateway rule before anything reaches this face)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from navixy_panel.domain import delivery as d
from navixy_panel.domain.delivery import MessageView
from navixy_panel.domain.fields import Id, WholeNumber
from navixy_panel.navixy.actions import ActionTable, Call, answer
from navixy_panel.usecases import messages

actions = ActionTable()


class Moment(fields.Field):
    """A time as Navixy sends them (`2025-03-14 09:26:53`, UTC) or ISO 8601."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError("Must be a date and time, e.g. 2025-03-14 09:26:53.")
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("Must be a date and time, e.g. 2025-03-14 09:26:53.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class MessagesListParams(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = WholeNumber(load_default=20, validate=validate.Range(1, 100))
    offset = WholeNumber(load_default=0, validate=validate.Range(0, 10_000_000))
    status = fields.String(load_default=None, validate=validate.OneOf(d.STATUSES))
    from_ = Moment(load_default=None, data_key="from")
    to = Moment(load_default=None)
    dealer_id = Id(load_default=None)


class LastReplyOut(Schema):
    code = fields.Integer(allow_none=True)
    text = fields.String(allow_none=True)


class MessageEntryOut(Schema):
    id = fields.String(required=True)
    created = fields.String(required=True)
    priority = fields.String(required=True)
    status = fields.String(required=True)
    to = fields.List(fields.String(), required=True)
    subject = fields.String(required=True)
    gateway_id = fields.Integer(allow_none=True)
    attempts = fields.Integer(required=True)
    next_attempt = fields.String(allow_none=True)
    last_reply = fields.Nested(LastReplyOut, allow_none=True)
    finished = fields.String(allow_none=True)


class MessagesListOut(Schema):
    list = fields.List(fields.Nested(MessageEntryOut), required=True)
    count = fields.Integer(required=True)


class MessageReadParams(Schema):
    class Meta:
        unknown = EXCLUDE

    message_id = fields.String(required=True, validate=validate.Length(1, 20))


class MessageReadOut(Schema):
    value = fields.Dict(required=True)


class HealthEntryOut(Schema):
    id = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"enum": ["ok", "failing", "idle"]})
    last_success = fields.String(allow_none=True)
    last_failure = fields.String(allow_none=True)
    last_failure_kind = fields.String(allow_none=True)
    queued = fields.Integer(required=True)


class HealthOut(Schema):
    list = fields.List(fields.Nested(HealthEntryOut), required=True)


def _entry(found: MessageView) -> dict[str, Any]:
    last = found.attempts[-1] if found.attempts else None
    return {"id": found.id, "created": found.created, "priority": found.priority,
            "status": found.status, "to": found.to, "subject": found.subject,
            "gateway_id": found.gateway_id, "attempts": len(found.attempts),
            "next_attempt": found.next_attempt,
            "last_reply": None if last is None else {"code": last.reply_code,
                                                     "text": last.reply_text},
            "finished": found.finished}


@actions.action("gateways/email/messages/list", permission=("email_gateways", "read"),
                params=MessagesListParams, response=MessagesListOut, errors=(201,))
async def gateways_email_messages_list(call: Call) -> bytes:
    """The dealer's (or a sub-dealer's) submitted messages, newest first."""
    params = call.params
    found, count = await messages.list_for_dealer(
        call.ctx, call.caller.dealer_id, dealer_id=params["dealer_id"], limit=params["limit"],
        offset=params["offset"], status=params["status"], since=params["from_"],
        until=params["to"])
    return answer({"list": [_entry(item) for item in found], "count": count})


@actions.action("gateways/email/messages/read", permission=("email_gateways", "read"),
                params=MessageReadParams, response=MessageReadOut, errors=(201,))
async def gateways_email_messages_read(call: Call) -> bytes:
    """One message with its attempts and the outcome per recipient."""
    found = await messages.read_for_dealer(call.ctx, call.caller.dealer_id,
                                           call.params["message_id"])
    value = asdict(found)
    value.pop("next_attempt")
    return answer({"value": value})


@actions.action("gateways/email/health", permission=("email_gateways", "read"),
                response=HealthOut)
async def gateways_email_health(call: Call) -> bytes:
    """Each usable gateway's state from real deliveries: ok, failing or idle."""
    found = await messages.health(call.ctx, call.caller.dealer_id, call.caller.parent_id)
    return answer({"list": [asdict(item) for item in found]})

"""`gateways/email/keys/*`: the dealer's own submission keys.

The platform submits a dealer's mail with one of these keys (`/mail/v1/messages`,
or SMTP AUTH). A key is answered once, by `create`; `list` never carries it. Only
the caller's live keys exist here: another dealer's key, or a deleted one, answers
as a missing gateway does (201).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel.domain.fields import Id
from navixy_panel.navixy.actions import ActionTable, Call, answer
from navixy_panel.usecases import keys

actions = ActionTable()


class CreateKeyParams(Schema):
    class Meta:
        unknown = EXCLUDE

    label = fields.String(load_default="", validate=validate.Length(max=keys.MAX_LABEL),
                          metadata={"description": "What the key is for (default empty)."})


class KeyIdParams(Schema):
    class Meta:
        unknown = EXCLUDE

    key_id = Id(required=True)


class KeyOut(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    created = fields.String(required=True, metadata={"format": "date-time"})
    last_used = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "Updated at most once a minute."})


class KeyListOut(Schema):
    list = fields.List(fields.Nested(KeyOut), required=True)


class CreatedKeyOut(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True, metadata={
        "description": "The key, shown this once: only its digest is kept."})


@actions.action("gateways/email/keys/list", permission=("email_gateways", "read"),
                response=KeyListOut)
async def gateways_email_keys_list(call: Call) -> bytes:
    """The dealer's submission keys, oldest first (never the keys themselves)."""
    found = await keys.list_keys(call.ctx, call.caller.dealer_id)
    return answer({"list": [{"id": key.id, "label": key.label, "created": key.created,
                             "last_used": key.last_used} for key in found]})


@actions.action("gateways/email/keys/create", permission=("email_gateways", "create"),
                params=CreateKeyParams, response=CreatedKeyOut)
async def gateways_email_keys_create(call: Call) -> bytes:
    """Create a submission key for the dealer; the answer is the only time it is shown."""
    created = await keys.create_key(call.ctx, call.caller.dealer_id, call.params["label"])
    return answer({"id": created.id, "key": created.key})


@actions.action("gateways/email/keys/delete", permission=("email_gateways", "delete"),
                params=KeyIdParams, errors=(201,))
async def gateways_email_keys_delete(call: Call) -> bytes:
    """Revoke one of the dealer's keys: refused at once from then on."""
    await keys.revoke_key(call.ctx, call.params["key_id"], dealer_id=call.caller.dealer_id)
    return answer()

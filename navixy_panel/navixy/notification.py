"""`dealer/settings/notification/email/*`: the dealer's sender identity.

Not in Navixy's published docs; Navixy's admin panel calls `update` right after
saving SMTP settings, so it is served here with the shape the panel sends.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel.navixy.actions import ActionTable, Call
from navixy_panel.usecases import sender_identity

actions = ActionTable()


class NotificationEmailParams(Schema):
    class Meta:
        unknown = EXCLUDE

    email_from = fields.Email(required=True, validate=validate.Length(max=100))
    email_footer = fields.String(load_default=None, validate=validate.Length(max=600))


class NotificationEmailOut(Schema):
    email_from = fields.String(allow_none=True, required=True)
    email_footer = fields.String(allow_none=True, required=True)


@actions.action("dealer/settings/notification/email/read",
                permission=("notification_settings", "read"), response=NotificationEmailOut)
async def notification_email_read(call: Call) -> dict[str, Any]:
    """The sender address and footer of the dealer's mail (null when unset)."""
    identity = await sender_identity.read(call.ctx, call.dealer)
    return {"email_from": identity.email_from, "email_footer": identity.email_footer}


@actions.action("dealer/settings/notification/email/update",
                permission=("notification_settings", "update"), params=NotificationEmailParams)
async def notification_email_update(call: Call) -> dict[str, Any]:
    """Replaces both fields: an absent footer clears it."""
    identity = sender_identity.SenderIdentity(call.params["email_from"],
                                              call.params["email_footer"] or None)
    await sender_identity.replace(call.ctx, call.dealer, identity, call.actor)
    return {}

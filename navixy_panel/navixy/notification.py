"""`dealer/settings/notification/*`: the dealer's sender identity.

Two pairs over the same stored values. `read` and `update` are Navixy's documented
notification settings (the `value` object; `update` is a full replacement with four
required fields). `email/read` and `email/update` are not in Navixy's published docs:
Navixy's admin panel calls `email/update` right after saving SMTP settings, so it is
served here with the shape the panel sends, and it changes the email fields only.

The panel sends `update` as form fields, a null one as `name=` (Ext JS), so there an
empty value means "cleared", not "absent": a required field must be sent, but may be
sent empty (except `email_from`).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from navixy_panel.domain.addresses import Mailbox
from navixy_panel.navixy.actions import ActionTable, Call, answer
from navixy_panel.usecases import sender_identity

actions = ActionTable()

EMAIL_FROM = {"description": "A bare address or one with a display name, "
                             "`Navixy <no-reply@navixy.com>` (a non-ASCII name is sent "
                             "RFC 2047-encoded); at most 100 characters."}
ORIGINATOR_CHARACTERS = "-'\" .,:/"
ORIGINATOR = {"description": "Letters, digits and `-'\" .,:/`, at most 20 characters "
                             "(Navixy's pattern `(\\p{L}|\\d|[-'\" .,:/])*`)."}


def _originator(value: str) -> None:
    """Navixy's `(\\p{L}|\\d|[-'" .,:/])*`: `str.isalpha` is exactly \\p{L}, and Java's
    `\\d` is ASCII digits."""
    if not all(char.isalpha() or char in "0123456789" or char in ORIGINATOR_CHARACTERS
               for char in value):
        raise ValidationError(f"Must contain only letters, digits and {ORIGINATOR_CHARACTERS}")


def _originator_field() -> fields.String:
    return fields.String(required=True, allow_none=True, metadata=ORIGINATOR,
                         validate=[validate.Length(max=20), _originator])


class NotificationSettingsParams(Schema):
    class Meta:
        unknown = EXCLUDE

    email_from = Mailbox(display_name=True, required=True, metadata=EMAIL_FROM, max_length=100,
                         error_messages={"null": "Must not be empty."})
    email_footer = fields.String(required=True, allow_none=True,
                                 validate=validate.Length(max=600))
    email_special = Mailbox(load_default=None, allow_none=True, max_length=255,
                            metadata={"description": "An address; absent or empty clears it."})
    sms_originator = _originator_field()
    caller_id = _originator_field()


class NotificationSettingsOut(Schema):
    email_from = fields.String(allow_none=True, required=True)
    email_footer = fields.String(allow_none=True, required=True)
    email_special = fields.String(allow_none=True, required=True)
    sms_originator = fields.String(allow_none=True, required=True)
    caller_id = fields.String(allow_none=True, required=True)


class NotificationReadOut(Schema):
    value = fields.Nested(NotificationSettingsOut, required=True)


class NotificationEmailParams(Schema):
    class Meta:
        unknown = EXCLUDE

    email_from = Mailbox(display_name=True, required=True, metadata=EMAIL_FROM, max_length=100)
    email_footer = fields.String(load_default=None, validate=validate.Length(max=600))


class NotificationEmailOut(Schema):
    email_from = fields.String(allow_none=True, required=True)
    email_footer = fields.String(allow_none=True, required=True)


@actions.action("dealer/settings/notification/read",
                permission=("notification_settings", "read"), response=NotificationReadOut)
async def dealer_settings_notification_read(call: Call) -> bytes:
    """The dealer's notification settings in `value` (unset fields null)."""
    identity = await sender_identity.read(call.ctx, call.caller.dealer_id)
    return answer({"value": identity.fields()})


@actions.action("dealer/settings/notification/update",
                permission=("notification_settings", "update"),
                params=NotificationSettingsParams, empty_is_null=True)
async def dealer_settings_notification_update(call: Call) -> bytes:
    """Replaces the notification settings: an absent email_special is cleared."""
    params = call.params
    identity = sender_identity.SenderIdentity(
        email_from=params["email_from"], email_footer=params["email_footer"],
        email_special=params["email_special"], sms_originator=params["sms_originator"],
        caller_id=params["caller_id"])
    await sender_identity.replace(call.ctx, call.caller.dealer_id, identity, call.actor)
    return answer()


@actions.action("dealer/settings/notification/email/read",
                permission=("notification_settings", "read"), response=NotificationEmailOut)
async def dealer_settings_notification_email_read(call: Call) -> bytes:
    """The sender address and footer of the dealer's mail (null when unset)."""
    identity = await sender_identity.read(call.ctx, call.caller.dealer_id)
    return answer({"email_from": identity.email_from, "email_footer": identity.email_footer})


@actions.action("dealer/settings/notification/email/update",
                permission=("notification_settings", "update"), params=NotificationEmailParams)
async def dealer_settings_notification_email_update(call: Call) -> bytes:
    """Replaces both email fields (an absent footer clears it); the rest is kept."""
    await sender_identity.replace_email(call.ctx, call.caller.dealer_id,
                                        email_from=call.params["email_from"],
                                        email_footer=call.params["email_footer"] or None,
                                        actor=call.actor)
    return answer()

"""`dealer/settings/notification/email/*`: the dealer's sender identity.

Not in Navixy's published docs; Navixy's admin panel calls `update` right after
saving SMTP settings, so it is served here with the shape the panel sends.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import select, update

from navixy_panel.db.models import Dealer
from navixy_panel.navixy.actions import ActionTable, Call
from navixy_panel.services import audit

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
                permission=("notification_settings", "read"), response=NotificationEmailOut,
                invalidates=False)
async def notification_email_read(call: Call) -> dict[str, Any]:
    """The sender address and footer of the dealer's mail (null when unset)."""
    email_from, email_footer = (await call.session.execute(
        select(Dealer.email_from, Dealer.email_footer)
        .where(Dealer.id == call.dealer.dealer_id))).one()
    return {"email_from": email_from, "email_footer": email_footer}


@actions.action("dealer/settings/notification/email/update",
                permission=("notification_settings", "update"), params=NotificationEmailParams)
async def notification_email_update(call: Call) -> dict[str, Any]:
    """Replaces both fields: an absent footer clears it."""
    dealer_id = call.dealer.dealer_id
    before = (await call.session.execute(
        select(Dealer.email_from, Dealer.email_footer).where(Dealer.id == dealer_id)
        .with_for_update())).one()
    after = {"email_from": call.params["email_from"],
             "email_footer": call.params["email_footer"] or None}
    await call.session.execute(update(Dealer).where(Dealer.id == dealer_id).values(**after))
    await audit.record(call.session, call.actor, dealer_id=dealer_id, action="sender.update",
                       changes=audit.diff(before._asdict(), after))
    return {}

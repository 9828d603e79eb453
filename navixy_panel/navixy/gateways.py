"""`gateways/email/*`: the dealer's email gateways."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from navixy_panel.navixy.actions import ActionTable, Call
from navixy_panel.services import gateways

actions = ActionTable()


class OwnGatewayOut(Schema):
    id = fields.Integer(required=True)
    leasable = fields.Boolean(required=True)
    label = fields.String(required=True)
    provider = fields.String(required=True)
    params = fields.Dict(required=True)


class LeasableGatewayOut(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    provider = fields.String(required=True)
    default_from_address = fields.String(allow_none=True, required=True)


class GatewayListOut(Schema):
    bound_gateway = fields.Integer(allow_none=True, required=True)
    own = fields.List(fields.Nested(OwnGatewayOut), required=True)
    leasable = fields.List(fields.Nested(LeasableGatewayOut), required=True)


@actions.action("gateways/email/list", permission=("email_gateways", "read"),
                response=GatewayListOut)
async def gateways_email_list(call: Call) -> dict[str, Any]:
    """Own gateways with their params, the parent's leasable ones, and the bound one."""
    dealer = call.dealer
    found = await gateways.list_for(call.session, dealer_id=dealer.dealer_id,
                                    parent_id=dealer.parent_id)
    return {"bound_gateway": dealer.bound_gateway_id, "own": found.own,
            "leasable": found.leasable}

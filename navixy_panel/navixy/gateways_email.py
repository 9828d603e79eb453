"""`gateways/email/*`: the dealer's email gateways.

Navixy documents only `list`; the other actions follow what Navixy's admin
panel sends (`gateway` as a JSON string in a form body, the whole object on
update, `gateway_id` for bind and delete, `to` for send_email).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel.domain.addresses import Email
from navixy_panel.domain.caller import Caller
from navixy_panel.domain.fields import Id, WholeNumber
from navixy_panel.domain.gateways import GatewayList
from navixy_panel.domain.smtp_params import SmtpParamsSchema
from navixy_panel.navixy.actions import ActionTable, Call, answer
from navixy_panel.navixy.validation import JsonObject
from navixy_panel.usecases import dealer_gateways, sends
from navixy_panel.usecases.context import Context

actions = ActionTable()


class GatewaySchema(Schema):
    """Unknown keys are refused; an `id` is accepted and ignored on create."""

    id = fields.Raw(load_default=None, load_only=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    provider = fields.String(required=True,
                             validate=validate.Regexp(r"^[a-z0-9_]{1,50}$",
                                                      error="Must be a provider name."))
    leasable = fields.Boolean(load_default=False)
    params = fields.Nested(SmtpParamsSchema, required=True)


class CreateParams(Schema):
    class Meta:
        unknown = EXCLUDE

    gateway = JsonObject(GatewaySchema, required=True)


class UpdateGatewaySchema(GatewaySchema):
    id = Id(required=True)  # type: ignore[assignment]  # required here, ignored on create


class UpdateParams(Schema):
    class Meta:
        unknown = EXCLUDE

    gateway = JsonObject(UpdateGatewaySchema, required=True)


class GatewayIdParams(Schema):
    class Meta:
        unknown = EXCLUDE

    gateway_id = Id(required=True)


class SendEmailParams(Schema):
    class Meta:
        unknown = EXCLUDE

    to = Email(required=True)
    gateway_id = Id(load_default=None)


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
    # Navixy omits null fields; its schema declares this one a string.
    default_from_address = fields.String()


class GatewayListOut(Schema):
    bound_gateway = fields.Integer(allow_none=True, required=True)
    own = fields.List(fields.Nested(OwnGatewayOut), required=True)
    leasable = fields.List(fields.Nested(LeasableGatewayOut), required=True)


class IdOut(Schema):
    id = fields.Integer(required=True)


def _input(loaded: dict[str, Any]) -> dealer_gateways.GatewayInput:
    return dealer_gateways.GatewayInput(label=loaded["label"], provider=loaded["provider"],
                                        leasable=loaded["leasable"], params=loaded["params"])


def _list_answer(found: GatewayList) -> bytes:
    """`list`'s answer (GatewayListOut), in Navixy's key order; what the list cache holds."""
    own = [{"id": g.id, "leasable": g.leasable, "label": g.label, "provider": g.provider,
            "params": g.params} for g in found.own]
    leasable = []
    for g in found.leasable:
        entry: dict[str, Any] = {"id": g.id, "label": g.label, "provider": g.provider}
        if g.default_from_address is not None:  # Navixy omits null fields (its schema: string)
            entry["default_from_address"] = g.default_from_address
        leasable.append(entry)
    return answer({"bound_gateway": found.bound_gateway_id, "own": own, "leasable": leasable})


async def _caller_with_list(ctx: Context, secret: str) -> tuple[Caller, bytes | None]:
    return await dealer_gateways.caller_with_list(ctx, secret, _list_answer)


@actions.action("gateways/email/list", permission=("email_gateways", "read"),
                response=GatewayListOut, resolve=_caller_with_list)
async def gateways_email_list(call: Call) -> bytes:
    """Own gateways with their params, the parent's leasable ones, and the bound one."""
    return call.prefetched or await dealer_gateways.list_gateways(call.ctx, call.caller,
                                                                  _list_answer)


@actions.action("gateways/email/create", permission=("email_gateways", "create"),
                params=CreateParams, response=IdOut)
async def gateways_email_create(call: Call) -> bytes:
    """Create an own gateway (provider `smtp`); returns its id. It is not bound."""
    gateway_id = await dealer_gateways.create(
        call.ctx, owner_id=call.caller.dealer_id, gateway=_input(call.params["gateway"]),
        actor=call.actor)
    return answer({"id": gateway_id})


@actions.action("gateways/email/update", permission=("email_gateways", "update"),
                params=UpdateParams, errors=(201, 261))
async def gateways_email_update(call: Call) -> bytes:
    """Replace an own gateway with the whole object sent."""
    loaded = call.params["gateway"]
    await dealer_gateways.update(call.ctx, call.caller, gateway_id=loaded["id"],
                                 gateway=_input(loaded), actor=call.actor)
    return answer()


@actions.action("gateways/email/delete", permission=("email_gateways", "delete"),
                params=GatewayIdParams, errors=(201, 261))
async def gateways_email_delete(call: Call) -> bytes:
    """Delete an own gateway; refused (261) while a sub-dealer is bound to it."""
    await dealer_gateways.delete(call.ctx, call.caller, gateway_id=call.params["gateway_id"],
                                 actor=call.actor)
    return answer()


@actions.action("gateways/email/bind", permission=("email_gateways", "update"),
                params=GatewayIdParams, errors=(201,))
async def gateways_email_bind(call: Call) -> bytes:
    """Bind the dealer to an own gateway or to one of its parent's leasable gateways."""
    await dealer_gateways.bind(call.ctx, call.caller, gateway_id=call.params["gateway_id"],
                               actor=call.actor)
    return answer()


@actions.action("gateways/email/send_email", permission=("email_gateways", "send_email"),
                params=SendEmailParams, errors=(15, 201, 209))
async def gateways_email_send_email(call: Call) -> bytes:
    """Send a real test message through the given or the bound gateway."""
    await sends.send_test_message(call.ctx, call.caller, to=call.params["to"],
                                  gateway_id=call.params["gateway_id"])
    return answer()


class CheckParams(Schema):
    class Meta:
        unknown = EXCLUDE

    gateway_id = Id(required=True)
    to = Email(load_default=None, allow_none=True)


class StageOut(Schema):
    stage = fields.String(required=True, metadata={
        "enum": ["connect", "tls", "ehlo", "token", "auth", "mail_from", "rcpt_to", "rset"]})
    result = fields.String(required=True, metadata={"enum": ["pass", "fail"]})
    ms = fields.Integer(metadata={"description": "Not given for a leased gateway."})
    code = fields.Integer(required=True, allow_none=True,
                          metadata={"description": "The server's reply code, if it replied."})
    error = fields.String(allow_none=True, metadata={
        "description": "Why the stage failed (never for a leased gateway)."})


class CertificateOut(Schema):
    subject = fields.String(required=True)
    issuer = fields.String(required=True)
    expires = fields.String(required=True, metadata={"format": "date-time"})


class CheckOut(Schema):
    """For a leased gateway only `passed` and each stage's result and code."""

    passed = fields.Boolean(required=True)
    stages = fields.List(fields.Nested(StageOut), required=True)
    extensions = fields.List(fields.String())
    auth_mechanisms = fields.List(fields.String())
    certificate = fields.Nested(CertificateOut, allow_none=True)


@actions.action("gateways/email/check", permission=("email_gateways", "send_email"),
                params=CheckParams, response=CheckOut, errors=(15, 201))
async def gateways_email_check(call: Call) -> bytes:
    """Check a gateway without sending: connect, TLS, EHLO, AUTH, MAIL FROM and RCPT TO
    (`to`, else the sender), then RSET; counted with test sends. A relay that refuses
    is a successful check whose `passed` is false."""
    report = await sends.check(call.ctx, call.caller, to=call.params["to"],
                               gateway_id=call.params["gateway_id"])
    return answer(report)


class AuditParams(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = WholeNumber(load_default=20, validate=validate.Range(1, 100))
    offset = WholeNumber(load_default=0, validate=validate.Range(0, 10_000_000))


class AuditEntryOut(Schema):
    id = fields.Integer(required=True)
    time = fields.String(required=True)
    actor = fields.String(required=True)
    face = fields.String(required=True)
    client_address = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    gateway_id = fields.Integer(allow_none=True, required=True)
    changes = fields.Dict(required=True)


class AuditOut(Schema):
    list = fields.List(fields.Nested(AuditEntryOut), required=True)
    count = fields.Integer(required=True)


@actions.action("gateways/email/audit", permission=("email_gateways", "read"),
                params=AuditParams, response=AuditOut)
async def gateways_email_audit(call: Call) -> bytes:
    """Changes to the dealer's gateways, bindings and sender identity, newest first."""
    entries, total = await dealer_gateways.audit_page(
        call.ctx, call.caller, limit=call.params["limit"], offset=call.params["offset"])
    return answer({"list": [{"id": e.id, "time": e.time.isoformat(), "actor": e.actor,
                             "face": e.face, "client_address": e.client_address,
                             "action": e.action, "gateway_id": e.gateway_id,
                             "changes": e.changes} for e in entries],
                   "count": total})

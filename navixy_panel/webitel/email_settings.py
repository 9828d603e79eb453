"""`/api/v2/email/settings`: a domain's email settings = its dealer's bound own gateway.

Safer than Webitel's engine where it was wrong: the password is never
returned (`options.auth.pass` is null), every call checks the caller's
`email_gateways` permissions, and a dealer reaches only its own domain and its
sub-dealers' domains (any other domain, existing or not: 403). The rules live in
`usecases/domain_settings.py`; this module maps Webitel's document onto them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from navixy_panel.domain.addresses import Email
from navixy_panel.domain.caller import Actor, Caller
from navixy_panel.domain.gateways import DomainSettings, GatewayInput, GatewayRecord
from navixy_panel.http import keys
from navixy_panel.http.plumbing import flatten, json_response, read_params, tag
from navixy_panel.usecases import domain_settings
from navixy_panel.usecases.context import Context
from navixy_panel.webitel import mapping
from navixy_panel.webitel.auth import authenticate
from navixy_panel.webitel.errors import FACE, NOT_FOUND_INFO, invalid_fields

PATH = "/api/v2/email/settings"
Route = Callable[[web.Request], Awaitable[web.Response]]


class Call:
    """One authenticated request: the caller, its parameters and the domain asked for."""

    def __init__(self, request: web.Request, ctx: Context, caller: Caller,
                 params: dict[str, Any]) -> None:
        self.request, self.ctx, self.caller, self.params = request, ctx, caller, params
        self.domain = request.query.get("domain")
        self.actor = Actor(caller.dealer_id, caller.login, "webitel", request.remote)


def authenticated(action: str, not_found: str = "Not found.") -> Callable[
        [Callable[[Call], Awaitable[web.Response]]], Route]:
    """Wraps a handler of a `Call` into an aiohttp handler that tags the request (face,
    action, what "none" is called), reads its parameters and authenticates it. It
    registers no route: `webitel/routes.py` does."""

    def wrap(handler: Callable[[Call], Awaitable[web.Response]]) -> Route:
        async def run(request: web.Request) -> web.Response:
            tag(request, FACE, action)
            request[NOT_FOUND_INFO] = not_found
            ctx = request.config_dict[keys.CONTEXT]
            params = await read_params(request, ctx.settings.max_body_bytes)
            caller = await authenticate(request, params)
            return await handler(Call(request, ctx, caller, params))

        return run

    return wrap


def _document(call: Call) -> dict[str, Any]:
    return mapping.SettingsSchema().load(call.params)  # ValidationError: 400 naming fields


def _builder(document: dict[str, Any]) -> Callable[[GatewayRecord | None], GatewayInput]:
    def build(current: GatewayRecord | None) -> GatewayInput:
        try:
            return mapping.to_gateway(document, current)
        except ValidationError as exc:
            # The shared SMTP validation names JavaMail keys: shown as Webitel's fields.
            messages = exc.messages if isinstance(exc.messages, dict) else {"options": exc.messages}
            raise invalid_fields(flatten(messages)) from None

    return build


def _answer(settings: DomainSettings) -> web.Response:
    return json_response(mapping.to_document(settings.gateway_id, settings.label, settings.provider,
                                       settings.params, settings.domain))


@authenticated(f"GET {PATH}", not_found="Not found!")
async def get_settings(call: Call) -> web.Response:
    return _answer(await domain_settings.get(call.ctx, call.caller, call.domain))


@authenticated(f"POST {PATH}")
async def create_settings(call: Call) -> web.Response:
    """Creates and binds a new own gateway, or replaces the bound one (Webitel's upsert)."""
    build = _builder(_document(call))
    return _answer(await domain_settings.upsert(call.ctx, call.caller, call.domain, build,
                                                call.actor))


@authenticated(f"PUT {PATH}")
async def replace_settings(call: Call) -> web.Response:
    build = _builder(_document(call))
    return _answer(await domain_settings.replace(call.ctx, call.caller, call.domain, build,
                                                 call.actor))


@authenticated(f"DELETE {PATH}")
async def delete_settings(call: Call) -> web.Response:
    removed = await domain_settings.remove(call.ctx, call.caller, call.domain, call.actor)
    # Webitel's capital `Info` here, and only here, is kept for its clients.
    return json_response({"status": "OK", "Info": f"Removed {removed} record."})


@authenticated(f"POST {PATH}/test", not_found="Not settings EMail provider from domain {subject}")
async def send_test_email(call: Call) -> web.Response:
    """Sends a real test message through the domain's settings."""
    raw_to = call.request.match_info.get("to") or call.params.get("to")
    try:
        to = Email(required=True).deserialize(raw_to)
    except ValidationError as exc:
        raise ValidationError({"to": exc.messages}) from None
    sent = await domain_settings.send_test_message(call.ctx, call.caller, call.domain, to=to)
    return json_response({"status": "OK", "info": {"messageId": sent.message_id,
                                             "response": sent.response}})


@authenticated(f"POST {PATH}/check", not_found="Not settings EMail provider from domain {subject}")
async def check_settings(call: Call) -> web.Response:
    """Checks the domain's settings without sending: each SMTP stage up to RCPT TO
    (`to`, else the sender), then RSET; counted with test sends."""
    raw_to = call.params.get("to")
    try:
        to = None if raw_to is None else Email(required=True).deserialize(raw_to)
    except ValidationError as exc:
        raise ValidationError({"to": exc.messages}) from None
    report = await domain_settings.check(call.ctx, call.caller, call.domain, to=to)
    return json_response({"status": "OK", "info": report})

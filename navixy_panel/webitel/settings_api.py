"""`/api/v2/email/settings`: a domain's email settings = its dealer's bound own gateway.

Safer than Webitel's engine where it was wrong: the password is never
returned (`options.auth.pass` is null), every call checks the caller's
`email_gateways` permissions, and a dealer reaches only its own domain and its
sub-dealers' domains (any other domain, existing or not: 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from marshmallow import ValidationError, fields
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel import keys, observability, permissions
from navixy_panel.db.models import EmailGateway
from navixy_panel.navixy.transport import read_params
from navixy_panel.services import audit, dealers, gateways, sending
from navixy_panel.services.dealers import DomainDealer
from navixy_panel.smtp_params import FROM, HOST, PASSWORD, PORT, SSL_PORT, USER
from navixy_panel.webitel import mapping
from navixy_panel.webitel.auth import authenticate
from navixy_panel.webitel.errors import WebitelError, invalid, respond

routes = web.RouteTableDef()

# Errors from the shared SMTP validation, named as the Webitel client wrote them.
_FIELD_NAMES = {HOST: "options.host", PORT: "options.port", SSL_PORT: "options.port",
                FROM: "from", USER: "options.auth.user", PASSWORD: "options.auth.pass"}


@dataclass(frozen=True, slots=True)
class Scope:
    target: DomainDealer
    permissions: dict[str, list[str]]
    params: dict[str, Any]
    actor: audit.Actor


async def _scope(request: web.Request, operation: str) -> Scope:
    """Authenticate, pick the domain, check it is in reach and the permission is held."""
    settings = request.config_dict[keys.SETTINGS]
    params = await read_params(request, settings.max_body_bytes)
    caller = await authenticate(request, params)
    domain = (request.query.get("domain") or caller.domain or "").strip().lower()
    if not domain:
        raise WebitelError(400, "Bad request (domain required).")
    async with request.config_dict[keys.SESSIONMAKER]() as session:
        target = await dealers.in_scope(session, caller_id=caller.dealer_id, domain=domain)
    if target is None or not permissions.allows(caller.permissions, "email_gateways",
                                                operation):
        raise WebitelError(403, "Permission denied!")
    actor = audit.Actor(caller.dealer_id, caller.login, "webitel", request.remote)
    return Scope(target, caller.permissions, params, actor)


def _document(scope: Scope) -> dict[str, Any]:
    try:
        return mapping.SettingsSchema().load(scope.params)
    except ValidationError as exc:
        raise invalid(exc) from None


def _gateway_input(document: dict[str, Any], current: EmailGateway | None
                   ) -> gateways.GatewayInput:
    try:
        return mapping.to_gateway(document, current)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"options": exc.messages}
        renamed = {_FIELD_NAMES.get(key, key): value for key, value in messages.items()}
        raise invalid(ValidationError(renamed)) from None


async def _respond_with(session: AsyncSession, target: DomainDealer) -> web.Response:
    current = await gateways.bound_own(session, dealer_id=target.dealer_id)
    assert current is not None
    return respond(mapping.to_document(current.id, current.label, current.provider,
                                       current.params, target.domain))


@routes.get("/email/settings")
async def get_settings(request: web.Request) -> web.Response:
    scope = await _scope(request, "read")
    async with request.config_dict[keys.SESSIONMAKER]() as session:
        if await gateways.bound_own(session, dealer_id=scope.target.dealer_id) is None:
            raise WebitelError(404, "Not found!")
        return await _respond_with(session, scope.target)


def invalidating(handler: Handler) -> Handler:
    """This instance sees its own write at once (others learn it by NOTIFY)."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        request.config_dict[keys.CACHES].clear()
        return response

    return wrapper


@routes.post("/email/settings")
@invalidating
async def create_settings(request: web.Request) -> web.Response:
    """Creates and binds a new own gateway, or replaces the bound one (Webitel's upsert)."""
    scope = await _scope(request, "create")
    document = _document(scope)
    box = request.config_dict[keys.SECRET_BOX]
    target = scope.target
    async with request.config_dict[keys.SESSIONMAKER].begin() as session:
        # One upsert per domain at a time, so two POSTs cannot create two gateways.
        await session.execute(select(func.pg_advisory_xact_lock(target.dealer_id)))
        current = await gateways.bound_own(session, dealer_id=target.dealer_id)
        if current is None:
            gateway_id = await gateways.create(session, box, owner_id=target.dealer_id,
                                               gateway=_gateway_input(document, None),
                                               actor=scope.actor)
            await gateways.bind(session, dealer_id=target.dealer_id,
                                parent_id=target.parent_id, gateway_id=gateway_id,
                                actor=scope.actor)
        elif not permissions.allows(scope.permissions, "email_gateways", "update"):
            raise WebitelError(403, "Permission denied!")
        else:
            await gateways.update_gateway(session, box, owner_id=target.dealer_id,
                                          gateway_id=current.id,
                                          gateway=_gateway_input(document, current),
                                          actor=scope.actor)
        return await _respond_with(session, target)


@routes.put("/email/settings")
@invalidating
async def replace_settings(request: web.Request) -> web.Response:
    scope = await _scope(request, "update")
    document = _document(scope)
    async with request.config_dict[keys.SESSIONMAKER].begin() as session:
        current = await gateways.bound_own(session, dealer_id=scope.target.dealer_id)
        if current is None:
            raise WebitelError(404, "Not found.")
        await gateways.update_gateway(session, request.config_dict[keys.SECRET_BOX],
                                      owner_id=scope.target.dealer_id, gateway_id=current.id,
                                      gateway=_gateway_input(document, current),
                                      actor=scope.actor)
        return await _respond_with(session, scope.target)


@routes.delete("/email/settings")
@invalidating
async def delete_settings(request: web.Request) -> web.Response:
    scope = await _scope(request, "delete")
    async with request.config_dict[keys.SESSIONMAKER].begin() as session:
        current = await gateways.bound_own(session, dealer_id=scope.target.dealer_id)
        if current is not None:
            await gateways.delete_gateway(session, owner_id=scope.target.dealer_id,
                                          gateway_id=current.id, actor=scope.actor)
    # Webitel's capital `Info` here, and only here, is kept for its clients.
    return respond({"status": "OK", "Info": f"Removed {int(current is not None)} record."})


@routes.post("/email/settings/test")
@routes.post("/email/settings/test/{to}")
async def test_settings(request: web.Request) -> web.Response:
    """Sends a real test message through the domain's settings."""
    scope = await _scope(request, "send_email")
    raw_to = request.match_info.get("to") or scope.params.get("to")
    try:
        to = fields.Email(required=True).deserialize(raw_to)
    except ValidationError as exc:
        raise invalid(ValidationError({"to": exc.messages})) from None
    target = scope.target
    async with request.config_dict[keys.SESSIONMAKER]() as session:
        current = await gateways.bound_own(session, dealer_id=target.dealer_id)
        if current is None:
            raise WebitelError(404, f"Not settings EMail provider from domain {target.domain}")
        prepared = await sending.prepare_test(
            session, request.config_dict[keys.SECRET_BOX], request.config_dict[keys.SETTINGS],
            dealer=target, to=to, gateway_id=current.id, gateway_param="_id")
        await session.commit()
    sent = await observability.send_counted(request, prepared)
    return respond({"status": "OK", "info": {"messageId": sent.message_id,
                                             "response": sent.response}})


@routes.route("*", "/{tail:.*}")
async def unknown(request: web.Request) -> web.Response:
    raise WebitelError(404, f"{request.path} not found.")


def create_subapp() -> web.Application:
    from navixy_panel.webitel.errors import webitel_error_middleware

    app = web.Application(middlewares=[webitel_error_middleware])
    app.router.add_routes(routes)
    return app

"""`account/*`: log in, read permissions, log out."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel import keys
from navixy_panel.errors import ApiError
from navixy_panel.navixy.actions import ActionTable, Call
from navixy_panel.services import logins, sessions

actions = ActionTable()


class AuthParams(Schema):
    class Meta:
        unknown = EXCLUDE

    login = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class PermissionsOut(Schema):
    permissions = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class AuthOut(PermissionsOut):
    hash = fields.String()


@actions.action("account/auth", params=AuthParams, response=AuthOut, needs_session=False,
                invalidates=False)
async def account_auth(call: Call) -> dict[str, Any]:
    """Log in with login and password; returns a session hash valid for the session lifetime."""
    outcome = await logins.log_in(
        call.request.config_dict[keys.SESSIONMAKER], call.settings, login=call.params["login"],
        password=call.params["password"], client_address=call.client_address,
    )
    if outcome.refusal is not None:
        raise ApiError(outcome.refusal)
    assert outcome.dealer is not None
    session_hash, _ = await sessions.open_session(
        call.session, dealer_id=outcome.dealer.dealer_id,
        ttl_seconds=call.settings.session_ttl_seconds,
    )
    return {"hash": session_hash, "permissions": outcome.dealer.permissions}


@actions.action("account/get_permissions", response=PermissionsOut, invalidates=False)
async def account_get_permissions(call: Call) -> dict[str, Any]:
    """The permissions of the current session's dealer."""
    return {"permissions": call.dealer.permissions}


@actions.action("account/logout")
async def account_logout(call: Call) -> dict[str, Any]:
    """End the current session; the hash answers code 4 from now on."""
    await sessions.end_session(call.session, call.dealer.session_digest)
    return {}

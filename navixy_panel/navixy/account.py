"""`account/*`: log in, read permissions, log out."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel.navixy.actions import ActionTable, Call, answer
from navixy_panel.usecases import logins

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
                 errors=(11, 12, 15))
async def account_auth(call: Call) -> bytes:
    """Log in with login and password; returns a session hash valid for the session lifetime."""
    logged_in = await logins.log_in(call.ctx, login=call.params["login"],
                                    password=call.params["password"],
                                    client_address=call.client_address)
    return answer({"hash": logged_in.secret, "permissions": logged_in.permissions})


@actions.action("account/get_permissions", response=PermissionsOut)
async def account_get_permissions(call: Call) -> bytes:
    """The permissions of the current session's dealer."""
    return answer({"permissions": call.caller.permissions})


@actions.action("account/logout")
async def account_logout(call: Call) -> bytes:
    """End the current session; the hash answers code 4 from now on."""
    await logins.log_out(call.ctx, call.caller)
    return answer()

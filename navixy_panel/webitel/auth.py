"""Webitel's login: a revocable server-side key plus an HS256 JWT.

As in Webitel's engine, the token's `exp` is in milliseconds, so it is
checked here (PyJWT would read it as seconds and accept it for millennia).
Unlike the engine, the key must be the one the token was issued with (the
token carries a digest of its key), and only a digest of the key is stored,
in the same sessions table as the Navixy face.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate

from navixy_panel.domain.caller import Caller
from navixy_panel.http import keys
from navixy_panel.http.plumbing import json_response, read_params, tag
from navixy_panel.usecases import logins
from navixy_panel.webitel.errors import FACE, WebitelError

KIND = "webitel"


class LoginParams(Schema):
    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


def _signing_key(request: web.Request) -> bytes:
    return request.config_dict[keys.CONTEXT].secret_box.derive_key(b"webitel jwt")


def _key_claim(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _split_username(username: str) -> tuple[str, str | None]:
    """`login` or Webitel's `login@domain`."""
    login_name, at, domain = username.rpartition("@")
    return (login_name, domain.lower()) if at else (username, None)


async def login(request: web.Request) -> web.Response:
    tag(request, FACE, "/login")
    ctx = request.config_dict[keys.CONTEXT]
    params = LoginParams().load(await read_params(request, ctx.settings.max_body_bytes))
    login_name, domain = _split_username(params["username"])
    logged_in = await logins.log_in(
        ctx, login=login_name, password=params["password"],
        client_address=request.remote or "unknown", kind=KIND, domain=domain,
        new_secret=lambda: str(uuid.uuid4()), ttl_seconds=ctx.settings.webitel_token_ttl_seconds)
    expires = int(logged_in.expires_at.timestamp() * 1000)
    token = jwt.encode({"exp": expires, "k": _key_claim(logged_in.secret),
                        "sub": str(logged_in.dealer_id)},
                       _signing_key(request), algorithm="HS256")
    return json_response({"key": logged_in.secret, "token": token, "expires": expires,
                    "domain": logged_in.domain, "acl": logged_in.permissions})


async def logout(request: web.Request) -> web.Response:
    tag(request, FACE, "/logout")
    ctx = request.config_dict[keys.CONTEXT]
    caller = await authenticate(request, await read_params(request, ctx.settings.max_body_bytes))
    await logins.log_out(ctx, caller)
    return json_response({"status": "OK", "info": "Successful logout."})


async def authenticate(request: web.Request, params: dict[str, Any]) -> Caller:
    """Token from X-Access-Token (or `access_token`), key from X-Key (or `x_key`)."""
    token = params.pop("access_token", None) or request.headers.get("X-Access-Token")
    key = params.pop("x_key", None) or request.headers.get("X-Key")
    if not isinstance(token, str) or not token:
        raise WebitelError(401, "Invalid token")
    try:
        claims = jwt.decode(token, _signing_key(request), algorithms=["HS256"],
                            options={"verify_exp": False, "require": ["exp", "k"]})
        expires_ms = int(claims["exp"])
    except (jwt.PyJWTError, TypeError, ValueError):
        raise WebitelError(401, "Invalid token") from None
    if expires_ms <= time.time() * 1000:
        raise WebitelError(401, "Token Expired")
    if not isinstance(key, str) or claims["k"] != _key_claim(key):
        raise WebitelError(401, "Invalid User")
    return await logins.resolve(request.config_dict[keys.CONTEXT], key, kind=KIND)

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

from navixy_panel import keys
from navixy_panel.navixy.transport import read_params
from navixy_panel.services import logins, sessions
from navixy_panel.services.sessions import Caller
from navixy_panel.webitel.errors import WebitelError, handle_errors, respond

KIND = "webitel"
_REFUSALS = {11: (403, "Access denied"), 15: (429, "Too many requests")}


class LoginParams(Schema):
    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


def _signing_key(request: web.Request) -> bytes:
    return request.config_dict[keys.SECRET_BOX].derive_key(b"webitel jwt")


def _key_claim(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _split_username(username: str) -> tuple[str, str | None]:
    """`login` or Webitel's `login@domain`."""
    login_name, at, domain = username.rpartition("@")
    return (login_name, domain.lower()) if at else (username, None)


async def login(request: web.Request) -> web.StreamResponse:
    return await handle_errors(request, _login)


async def _login(request: web.Request) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    params = LoginParams().load(await read_params(request, settings.max_body_bytes))
    login_name, domain = _split_username(params["username"])
    sessionmaker = request.config_dict[keys.SESSIONMAKER]
    outcome = await logins.log_in(sessionmaker, settings, login=login_name,
                                  password=params["password"],
                                  client_address=request.remote or "unknown")
    dealer = outcome.dealer
    if dealer is None or (domain is not None and dealer.domain != domain):
        raise WebitelError(*_REFUSALS.get(outcome.refusal or 12,
                                          (401, "Invalid credentials")))
    async with sessionmaker() as session:
        key = str(uuid.uuid4())
        _, expires_at = await sessions.open_session(
            session, dealer_id=dealer.dealer_id, kind=KIND, secret=key,
            ttl_seconds=settings.webitel_token_ttl_seconds)
        await session.commit()
    expires = int(expires_at.timestamp() * 1000)
    token = jwt.encode({"exp": expires, "k": _key_claim(key), "sub": str(dealer.dealer_id)},
                       _signing_key(request), algorithm="HS256")
    return respond({"key": key, "token": token, "expires": expires, "domain": dealer.domain,
                    "acl": dealer.permissions})


async def logout(request: web.Request) -> web.StreamResponse:
    return await handle_errors(request, _logout)


async def _logout(request: web.Request) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    caller = await authenticate(request, await read_params(request, settings.max_body_bytes))
    async with request.config_dict[keys.SESSIONMAKER].begin() as session:
        await sessions.end_session(session, caller.session_digest)
    request.config_dict[keys.CACHES].clear()
    return respond({"status": "OK", "info": "Successful logout."})


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
    async with request.config_dict[keys.SESSIONMAKER]() as session:
        caller = await sessions.resolve(session, key, kind=KIND)
    if caller is None:
        raise WebitelError(401, "Invalid User")
    return caller

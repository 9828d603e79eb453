"""OAuth 2.0 access tokens for XOAUTH2 gateways: the client-credentials grant
(RFC 6749 section 4.4), as Microsoft 365 requires for SMTP AUTH once basic
authentication is off.

The request and the answer are RFC 6749's, built and read with authlib's helpers
(`prepare_token_request`, `OAuth2Token`); the HTTP goes through aiohttp, already
the service's HTTP stack, with a resolver that answers only the addresses the
destination policy checked: the token URL is tenant input, so it is pinned like
an SMTP host (no rebinding between check and connect), and its certificate is
verified against its name (system store plus NAVIXY_PANEL_TLS_CA_FILE).

Tokens are kept in this process's memory only, per token URL, client, scope and
secret, until shortly before they expire; never stored, never logged. A failure
is `SendFailed(OAUTH)` naming the endpoint's `error` code, never the secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from navixy_panel.domain.errors import SendFailed, SendFailure
from navixy_panel.domain.smtp_params import CLIENT_ID, DEFAULT_SCOPE, SCOPE, TOKEN_URL
from navixy_panel.mail import destinations
from navixy_panel.mail.destinations import Policy, Target

# A token is fetched again this long before it expires, so one never expires mid-session.
EARLY_SECONDS = 120.0
# Token answers are small; a larger one is not a token endpoint's.
MAX_ANSWER_BYTES = 64 * 1024
_ERROR_CODE = re.compile(r"[a-z0-9_.-]{1,64}")


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    refresh_at: float  # time.monotonic()


_cache: dict[tuple[str, str, str, str], _Cached] = {}


def _key(params: dict[str, Any], secret: str) -> tuple[str, str, str, str]:
    # The secret's digest, so a new secret never gets the old secret's token.
    return (str(params[TOKEN_URL]), str(params[CLIENT_ID]), _scope(params),
            hashlib.sha256(secret.encode()).hexdigest())


def _scope(params: dict[str, Any]) -> str:
    return str(params.get(SCOPE) or DEFAULT_SCOPE)


def forget(params: dict[str, Any], secret: str) -> None:
    """Drops the cached token (the SMTP server refused it)."""
    _cache.pop(_key(params, secret), None)


async def token(params: dict[str, Any], secret: str, *, rules: Policy, tls: Any,
                deadline: float) -> tuple[str, bool]:
    """An access token, and whether it came from the cache."""
    key = _key(params, secret)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() < cached.refresh_at:
        return cached.token, True
    fetched, lifetime = await _fetch(params, secret, rules=rules, tls=tls, deadline=deadline)
    now = time.monotonic()
    # Tokens of changed secrets or deleted gateways are never asked for again: dropping
    # the expired ones here keeps the cache as large as the gateways in use.
    for stale in [k for k, entry in _cache.items() if entry.refresh_at <= now]:
        del _cache[stale]
    _cache[key] = _Cached(fetched, now + max(0.0, lifetime - EARLY_SECONDS))
    return fetched, False


class _Pinned(AbstractResolver):
    """Answers only the addresses `destinations.resolve_for_send` allowed."""

    def __init__(self, targets: list[Target]) -> None:
        self.targets = targets

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": target.address, "port": port,
                 "family": target.family, "proto": 0, "flags": socket.AI_NUMERICHOST}
                for target in self.targets]

    async def close(self) -> None:
        return None


def _failed(message: str) -> SendFailed:
    return SendFailed(SendFailure.OAUTH, message=message)


async def _fetch(params: dict[str, Any], secret: str, *, rules: Policy, tls: Any,
                 deadline: float) -> tuple[str, float]:
    url = str(params[TOKEN_URL])
    parsed = urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 443
    where = "the token endpoint"
    try:
        targets = await destinations.resolve_for_send(host, port, rules)
    except SendFailed as refused:
        raise _failed(f"{where} is not reachable: {refused}") from None
    # client_secret_post: what Microsoft's identity platform documents for this grant.
    body = prepare_token_request("client_credentials", scope=_scope(params),
                                 client_id=str(params[CLIENT_ID]), client_secret=secret)
    loop = asyncio.get_running_loop()
    left = max(0.001, deadline - loop.time())
    connector = aiohttp.TCPConnector(resolver=_Pinned(targets), ssl=tls, use_dns_cache=False)
    try:
        async with aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=left),
                trust_env=False) as session, session.post(
                    url, data=body, allow_redirects=False,
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "Accept": "application/json"}) as response:
            raw = await response.content.read(MAX_ANSWER_BYTES + 1)
            status = response.status
    except TimeoutError:
        raise _failed(f"{where} did not answer in time") from None
    except aiohttp.ClientSSLError as exc:
        raise _failed(f"TLS with {where} failed ({_ssl_reason(exc)})") from None
    except aiohttp.ClientError:
        raise _failed(f"{where} could not be reached") from None
    data = _json(raw)
    if status != 200 or data is None or "error" in data:
        code = str(data.get("error")) if data and data.get("error") else None
        if code is None or not _ERROR_CODE.fullmatch(code):
            raise _failed(f"{where} answered HTTP {status} without an OAuth error code")
        raise _failed(f"{where} refused the request ({code})")
    issued = OAuth2Token.from_dict(data)
    access = issued.get("access_token")
    if not isinstance(access, str) or not access or str(
            issued.get("token_type", "")).lower() != "bearer":
        raise _failed(f"{where} answered without a bearer access token")
    expires_in = issued.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
    return access, lifetime


def _json(raw: bytes) -> dict[str, Any] | None:
    if len(raw) > MAX_ANSWER_BYTES:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or "unknown reason"
        return f"certificate verify failed: {reason}"
    return "TLS error"

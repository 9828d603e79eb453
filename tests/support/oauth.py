"""A real OAuth 2.0 token endpoint and an SMTP server that takes XOAUTH2, for the
gateways Microsoft 365 will require.

The endpoint is authlib's server side (`AuthorizationServer` with the
client-credentials grant and bearer tokens carrying `expires_in`), served by aiohttp
over TLS with a trustme certificate on a loopback address, in the test's own event
loop. The SMTP server (aiosmtpd, in its thread) accepts `AUTH XOAUTH2` when the
bearer token is one this endpoint issued, for the mailbox given, and not expired or
revoked; a refusal follows RFC 7628 (a 334 error challenge, then 535).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiohttp import web
from aiosmtpd.smtp import AuthResult
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator

from tests.support.net import free_port
from tests.support.smtp import Recorder

CLIENT_ID = "5f3c9a1e-panel-test-client"
CLIENT_SECRET = "cs~Q8x7-very-secret-client-value"
MAILBOX = "alerts@dealer.example"
SCOPE = "https://outlook.office365.com/.default"


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self.secret = client_id, secret

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._form.items()}


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Any, form: dict[str, str]) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = _Payload(form)
        self._form = form

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Issued:
    token: str
    client_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class TokenEndpoint:
    """What the endpoint issued and was asked; `expires_in` and `stall` are settable."""

    port: int = 0
    host: str = "127.0.0.1"
    expires_in: int = 3600
    stall: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)
    issued: dict[str, Issued] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/oauth2/v2.0/token"

    def revoke_all(self) -> None:
        """What a server that forgot or revoked every token looks like."""
        with self.lock:
            for issued in self.issued.values():
                issued.revoked = True

    def valid(self, token: str) -> bool:
        with self.lock:
            issued = self.issued.get(token)
            return (issued is not None and not issued.revoked
                    and time.time() < issued.expires_at)


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    # Microsoft's identity platform takes the secret in the body (client_secret_post),
    # as its documentation shows, or in Basic; authlib's default is Basic only.
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, endpoint: TokenEndpoint) -> None:
        super().__init__(scopes_supported=None)
        self.endpoint = endpoint
        self.clients = {CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET)}
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda *a, **k: secrets.token_urlsafe(24),
            expires_generator=lambda client, grant_type: endpoint.expires_in))

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        with self.endpoint.lock:
            self.endpoint.issued[token["access_token"]] = Issued(
                token["access_token"], request.client.client_id,
                time.time() + int(token["expires_in"]))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> JsonRequest:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> web.Response:
        return web.Response(status=status, text=json.dumps(body),
                            headers=dict(headers or {}), content_type=None)


@contextlib.asynccontextmanager
async def token_endpoint(ca: trustme.CA, host: str = "127.0.0.1") -> AsyncIterator[TokenEndpoint]:
    endpoint = TokenEndpoint(port=free_port(host), host=host)
    server = _Server(endpoint)

    async def token(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        endpoint.requests.append(form)
        if endpoint.stall:
            await asyncio.sleep(endpoint.stall)
        answer: web.Response = server.create_token_response(
            _Request(request.method, str(request.url), request.headers, form))
        answer.headers["Content-Type"] = "application/json"
        return answer

    app = web.Application()
    app.router.add_post("/oauth2/v2.0/token", token)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, endpoint.port, ssl_context=context)
    await site.start()
    try:
        yield endpoint
    finally:
        await runner.cleanup()


class XOAuth2Handler(Recorder):
    """aiosmtpd handler: keeps messages and takes AUTH XOAUTH2 against `endpoint`."""

    def __init__(self, endpoint: TokenEndpoint, mailbox: str = MAILBOX) -> None:
        super().__init__()
        self.endpoint, self.mailbox = endpoint, mailbox
        self.attempts: list[bool] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        # aiosmtpd's hook for a mechanism it does not know: args[1] is the initial response.
        ok = False
        if len(args) == 2:
            try:
                fields = base64.b64decode(args[1]).decode().split("\x01")
            except ValueError:
                fields = []
            values = dict(part.split("=", 1) for part in fields if "=" in part)
            token = values.get("auth", "").removeprefix("Bearer ")
            ok = values.get("user") == self.mailbox and self.endpoint.valid(token)
        self.attempts.append(ok)
        if ok:
            return AuthResult(success=True, auth_data=self.mailbox)
        # RFC 7628: the error as a 334 challenge; the client answers an empty line.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer",
                                                "scope": SCOPE}))
        return AuthResult(success=False, handled=False)

"""Calling the Webitel face (/login, /logout, /api/v2/email/settings) and what its
tests share: the seed document of Webitel's own client, the answers it expects,
and settings pointing at a local SMTP server."""

from __future__ import annotations

from json import loads
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.api import PASSWORD, Api
from tests.support.smtp import PASSWORD as SMTP_PASSWORD
from tests.support.smtp import USER as SMTP_USER

SETTINGS = "/api/v2/email/settings"
DOMAIN = "my.webitel.com"
SEED_PASS = "itte574dsts485"
NAVIXY_PASS = "navixy-secret-7"
# Nothing here may ever come back in a response body.
SECRETS = (SEED_PASS, SMTP_PASSWORD, NAVIXY_PASS, PASSWORD)

SEED_CREATE: dict[str, Any] = {
    "provider": "smtp", "description": "My Setting", "from": "my@webitel.com",
    "options": {"host": "m.webitel.com", "port": 465, "secure": True, "debug": False,
                "tls": {"rejectUnauthorized": False},
                "auth": {"user": "my@webitel.com", "pass": SEED_PASS}}}
SEED_UPDATE: dict[str, Any] = {
    "provider": "smtp", "description": "My updated setting", "from": "my@webitel.com",
    "options": {"host": "m.webitel.com", "port": 465, "secure": True, "debug": False,
                "tls": {"rejectUnauthorized": False},
                "auth": {"user": "my@webitel.com", "pass": SEED_PASS}}}

PERMISSION_DENIED = {"status": "error", "info": "Permission denied!"}
INVALID_CREDENTIALS = {"status": "error", "info": "Invalid credentials"}
INVALID_TOKEN = {"status": "error", "info": "Invalid token"}
INVALID_USER = {"status": "error", "info": "Invalid User"}
NOT_FOUND_GET = {"status": "error", "info": "Not found!"}
NOT_FOUND_PUT = {"status": "error", "info": "Not found."}
# Webitel's own field name: the client wrote `options.auth.pass`.
PASSWORD_REFUSAL = {
    "status": "error",
    "info": "options.auth.pass: Enter the password again: the server, "
            "ports, TLS settings or user changed."}


def seed_document(gateway_id: int, description: str) -> dict[str, Any]:
    """What GET/POST/PUT answer for the seed's settings (the password never comes back)."""
    return {"_id": str(gateway_id), "provider": "smtp", "description": description,
            "from": "my@webitel.com",
            "options": {"host": "m.webitel.com", "port": 465, "secure": True, "debug": False,
                        "tls": {"rejectUnauthorized": False},
                        "auth": {"user": "my@webitel.com", "pass": None}},
            "domain": DOMAIN}


def relay_settings(port: int, password: str | None = SMTP_PASSWORD, *,
                   host: str = "127.0.0.1", description: str = "Relay") -> dict[str, Any]:
    """Settings pointing at a local aiosmtpd server with STARTTLS (its certificate from
    a throwaway CA) and AUTH: `secure: false` with a login never logs in without TLS."""
    return {"provider": "smtp", "description": description, "from": "relay@d1.example",
            "options": {"host": host, "port": port, "secure": False, "debug": False,
                        "tls": {"rejectUnauthorized": False},
                        "auth": {"user": SMTP_USER, "pass": password}}}


async def login_keys(client: TestClient, username: str,
                     password: str = PASSWORD) -> tuple[str, str]:
    """`POST /login` on `client`; returns (key, token)."""
    response = await client.post("/login", json={"username": username, "password": password})
    body = await response.json()
    assert response.status == 200, body
    return str(body["key"]), str(body["token"])


async def webitel_login(api: Api, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """`POST /login`; returns (key, token)."""
    return await login_keys(api.client, username, password)


async def webitel_headers(client: TestClient, username: str) -> dict[str, str]:
    """`POST /login` on `client`, as the headers of the calls that follow."""
    key, token = await login_keys(client, username)
    return {"X-Key": key, "X-Access-Token": token}


class Webitel:
    """Calls the Webitel face and keeps every response text for the secrets check."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.texts: list[str] = []

    async def call(self, method: str, path: str = SETTINGS, *,
                   auth: tuple[str, str] | None = None, domain: str | None = None,
                   query: dict[str, str] | None = None, json: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None,
                   client: TestClient | None = None) -> tuple[int, Any]:
        params = dict(query or {})
        if domain is not None:
            params["domain"] = domain
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers.update({"X-Key": auth[0], "X-Access-Token": auth[1]})
        response = await (client or self.api.client).request(
            method, path, params=params, json=json, data=data, headers=sent_headers)
        text = await response.text()
        self.texts.append(text)
        assert response.content_type == "application/json", (response.status, text)
        assert response.status < 500 or response.status == 502, (response.status, text)
        return response.status, loads(text)

    async def login(self, username: str, password: str = PASSWORD, *,
                    form: bool = False) -> tuple[int, Any]:
        body = {"username": username, "password": password}
        if form:
            return await self.call("POST", "/login", data=body)
        return await self.call("POST", "/login", json=body)

    async def navixy_list(self, h: str) -> dict[str, Any]:
        body = await self.api.ok("gateways/email/list", hash=h)
        self.texts.append(str(body))
        return body

    def assert_no_secret(self) -> None:
        assert self.texts
        for text in self.texts:
            for secret in SECRETS:
                assert secret not in text, text


async def dealer_session(api: Api, login: str = "d1", domain: str | None = DOMAIN,
                         **kwargs: Any) -> tuple[int, tuple[str, str]]:
    dealer_id = await api.dealer(login, domain=domain, **kwargs)
    return dealer_id, await webitel_login(api, login)


async def bound(api: Api, dealer_id: int) -> int | None:
    [row] = await api.sql("SELECT bound_gateway_id FROM dealers WHERE id = :id", id=dealer_id)
    return row.bound_gateway_id  # type: ignore[no-any-return]

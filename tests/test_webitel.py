"""The Webitel face over HTTP: /login, /logout and /api/v2/email/settings.

Covers SPEC section 4: the seed document's requests in order, the mapping
between Webitel's document and the Navixy params of the same gateway (both
ways), the password-keeping rule on replace, test sends against aiosmtpd,
every 401, domain scoping and permissions, and the error shape. Statuses and
whole bodies are asserted; every response text is recorded, and no test lets
a stored SMTP password (or a dealer password) appear in any of them.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator
from json import loads
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import PASSWORD, Api
from tests.smtp_servers import PASSWORD as SMTP_PASSWORD
from tests.smtp_servers import USER as SMTP_USER
from tests.smtp_servers import smtp_server

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
    """Settings pointing at a local aiosmtpd server with AUTH."""
    return {"provider": "smtp", "description": description, "from": "relay@d1.example",
            "options": {"host": host, "port": port, "secure": False, "debug": False,
                        "auth": {"user": SMTP_USER, "pass": password}}}


async def webitel_login(api: Api, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """`POST /login`; returns (key, token)."""
    response = await api.client.post("/login", json={"username": username,
                                                     "password": password})
    body = await response.json()
    assert response.status == 200, body
    return str(body["key"]), str(body["token"])


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


@pytest.fixture
async def webitel(api: Api) -> AsyncIterator[Webitel]:
    face = Webitel(api)
    yield face
    if face.texts:
        face.assert_no_secret()


async def dealer_session(api: Api, login: str = "d1", domain: str | None = DOMAIN,
                         **kwargs: Any) -> tuple[int, tuple[str, str]]:
    dealer_id = await api.dealer(login, domain=domain, **kwargs)
    return dealer_id, await webitel_login(api, login)


async def stored(api: Api) -> list[Any]:
    return await api.sql("SELECT id, owner_id, label, leasable, params, password_encrypted "
                         "FROM email_gateways ORDER BY id")


async def bound(api: Api, dealer_id: int) -> int | None:
    [row] = await api.sql("SELECT bound_gateway_id FROM dealers WHERE id = :id", id=dealer_id)
    return row.bound_gateway_id  # type: ignore[no-any-return]


# -- 1. the seed document, request by request --------------------------------

async def test_seed_requests_in_order(api: Api, webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api)

    status, body = await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert (row.owner_id, row.label, row.leasable) == (dealer_id, "My Setting", False)
    assert await bound(api, dealer_id) == row.id

    # The same gateway through the Navixy face.
    h = await api.login("d1")
    assert await webitel.navixy_list(h) == {
        "success": True, "bound_gateway": row.id, "leasable": [],
        "own": [{"id": row.id, "leasable": False, "label": "My Setting", "provider": "smtp",
                 "params": {
                     "default_from_address": "my@webitel.com",
                     "mail.smtp.user": "my@webitel.com", "mail.smtp.password": None,
                     "mail.smtp.host": "m.webitel.com", "mail.smtp.port": 25,
                     "mail.smtp.ssl.port": 465, "mail.smtp.ssl.trust_all_hosts": True,
                     "mail.smtp.auth": True, "mail.debug": False,
                     "mail.smtp.starttls.enable": False,
                     "mail.smtp.starttls.required": False, "mail.smtp.use_ssl": True,
                     "mail.smtp.timeout": 60000, "mail.smtp.connectiontimeout": 60000,
                     "mail.transport.protocol": "smtp"}}]}

    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (
        200, seed_document(row.id, "My Setting"))
    assert await webitel.call("PUT", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        200, seed_document(row.id, "My updated setting"))
    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (
        200, seed_document(row.id, "My updated setting"))
    assert await webitel.call("DELETE", auth=auth, domain=DOMAIN) == (
        200, {"status": "OK", "Info": "Removed 1 record."})
    assert await stored(api) == []
    assert await bound(api, dealer_id) is None
    assert await webitel.call("DELETE", auth=auth, domain=DOMAIN) == (
        200, {"status": "OK", "Info": "Removed 0 record."})
    assert await webitel.call("PUT", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        404, NOT_FOUND_PUT)
    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (404, NOT_FOUND_GET)
    assert await stored(api) == []
    webitel.assert_no_secret()


async def test_post_replaces_existing_settings_in_place(api: Api, webitel: Webitel) -> None:
    """Webitel's POST is an upsert: the second one keeps the same gateway id."""
    dealer_id, auth = await dealer_session(api)
    await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_CREATE)
    [first] = await stored(api)
    assert await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        200, seed_document(first.id, "My updated setting"))
    [second] = await stored(api)
    assert second.id == first.id
    assert await bound(api, dealer_id) == first.id
    webitel.assert_no_secret()


async def test_description_absent_labels_email_settings(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    body = {key: value for key, value in SEED_CREATE.items() if key != "description"}
    status, created = await webitel.call("POST", auth=auth, domain=DOMAIN, json=body)
    assert (status, created["description"]) == (200, "Email settings")
    assert [row.label for row in await stored(api)] == ["Email settings"]


# -- 2. Navixy-made gateways read through the Webitel face --------------------

async def test_navixy_gateway_reads_back_field_by_field(api: Api, webitel: Webitel) -> None:
    dealer_id = await api.dealer("d1", domain=DOMAIN)
    h = await api.login("d1")
    gateway = {"label": "Fleet relay", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": "smtp.fleet.example", "mail.smtp.port": 587,
                          "mail.smtp.starttls.enable": True, "mail.smtp.use_ssl": False,
                          "mail.smtp.ssl.trust_all_hosts": False, "mail.smtp.auth": True,
                          "mail.smtp.user": "fleet-user", "mail.smtp.password": NAVIXY_PASS,
                          "mail.debug": True, "default_from_address": "fleet@fleet.example"}}
    gateway_id = (await api.ok("gateways/email/create", hash=h, json={"gateway": gateway}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    assert await bound(api, dealer_id) == gateway_id

    status, body = await webitel.call("GET", auth=await webitel_login(api, "d1"),
                                      domain=DOMAIN)
    assert status == 200
    options = body["options"]
    assert body["_id"] == str(gateway_id)
    assert body["provider"] == "smtp"
    assert body["description"] == "Fleet relay"
    assert body["from"] == "fleet@fleet.example"
    assert options["host"] == "smtp.fleet.example"
    assert options["port"] == 587
    assert options["secure"] is False
    assert options["debug"] is True
    assert options["tls"] == {"rejectUnauthorized": True}
    assert options["auth"] == {"user": "fleet-user", "pass": None}
    assert body["domain"] == DOMAIN
    assert set(body) == {"_id", "provider", "description", "from", "options", "domain"}
    assert set(options) == {"host", "port", "secure", "debug", "tls", "auth"}
    webitel.assert_no_secret()


async def test_navixy_gateway_with_auth_off_reads_auth_null(api: Api, webitel: Webitel) -> None:
    dealer_id = await api.dealer("d1", domain=DOMAIN)
    gateway_id = await api.gateway(dealer_id, "Plain relay", **{
        "mail.smtp.host": "relay.example", "mail.smtp.port": 2525,
        "mail.smtp.ssl.trust_all_hosts": True})
    await api.bind(dealer_id, gateway_id)
    assert await webitel.call("GET", auth=await webitel_login(api, "d1"), domain=DOMAIN) == (
        200, {"_id": str(gateway_id), "provider": "smtp", "description": "Plain relay",
              "from": None,
              "options": {"host": "relay.example", "port": 2525, "secure": False,
                          "debug": False, "tls": {"rejectUnauthorized": False},
                          "auth": None},
              "domain": DOMAIN})


async def test_unbound_or_leased_gateway_is_not_the_domains_settings(
        api: Api, webitel: Webitel) -> None:
    """Only the bound *own* gateway counts: an unbound own gateway and the parent's
    leased one are not the child's settings, and DELETE leaves them alone."""
    parent_id = await api.dealer("parent", domain="parent.example")
    leased = await api.gateway(parent_id, "parent relay", leasable=True)
    child_id = await api.dealer("child", parent="parent", domain="child.example")
    await api.gateway(child_id, "unbound")
    await api.bind(child_id, leased)
    auth = await webitel_login(api, "child")
    assert await webitel.call("GET", auth=auth) == (404, NOT_FOUND_GET)
    assert await webitel.call("PUT", auth=auth, json=SEED_CREATE) == (404, NOT_FOUND_PUT)
    assert await webitel.call("DELETE", auth=auth) == (
        200, {"status": "OK", "Info": "Removed 0 record."})
    assert [row.label for row in await stored(api)] == ["parent relay", "unbound"]
    assert await bound(api, child_id) == leased


async def test_delete_of_a_gateway_sub_dealers_use_is_409(api: Api, webitel: Webitel) -> None:
    parent_id = await api.dealer("parent", domain="parent.example")
    relay = await api.gateway(parent_id, "shared", leasable=True)
    await api.bind(parent_id, relay)
    child_id = await api.dealer("child", parent="parent")
    await api.bind(child_id, relay)
    auth = await webitel_login(api, "parent")
    assert await webitel.call("DELETE", auth=auth) == (
        409, {"status": "error", "info": "Conflict: sub-dealers are bound to this gateway"})
    assert [row.id for row in await stored(api)] == [relay]
    assert await bound(api, child_id) == relay


# -- 3. the stored password on replace --------------------------------------

@pytest.mark.parametrize("how", ["put-null", "post-null", "put-back-what-get-gave"])
async def test_replace_without_password_keeps_it_for_the_same_destination(
        api: Api, webitel: Webitel, how: str) -> None:
    with smtp_server(auth=True) as server:
        _, auth = await dealer_session(api)
        status, created = await webitel.call("POST", auth=auth,
                                             json=relay_settings(server.port))
        assert status == 200, created
        [before] = await stored(api)
        if how == "put-back-what-get-gave":
            status, document = await webitel.call("GET", auth=auth)
            assert status == 200
            assert document["options"]["auth"] == {"user": SMTP_USER, "pass": None}
            document["description"] = "Renamed"
            replaced = await webitel.call("PUT", auth=auth, json=document)
        else:
            body = relay_settings(server.port, None, description="Renamed")
            replaced = await webitel.call("PUT" if how == "put-null" else "POST", auth=auth,
                                          json=body)
        assert replaced == (200, {**created, "description": "Renamed"})
        [after] = await stored(api)
        assert bytes(after.password_encrypted) == bytes(before.password_encrypted)
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    assert len(server.messages) == 1
    webitel.assert_no_secret()


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_changed_host_without_password_is_refused(api: Api, webitel: Webitel,
                                                        method: str) -> None:
    with smtp_server(auth=True) as server:
        dealer_id, auth = await dealer_session(api)
        assert (await webitel.call("POST", auth=auth, json=relay_settings(server.port)))[0] == 200
        before = await stored(api)
        body = relay_settings(server.port, None, host="localhost")
        assert await webitel.call(method, auth=auth, json=body) == (400, PASSWORD_REFUSAL)
        assert await stored(api) == before
        assert await bound(api, dealer_id) == before[0].id
        # The kept password still works where it was entered for.
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    assert len(server.messages) == 1
    webitel.assert_no_secret()


async def test_changed_host_with_a_new_password_is_accepted(api: Api, webitel: Webitel) -> None:
    with smtp_server(auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth, json=relay_settings(1, "old-password-1"))
        status, body = await webitel.call("PUT", auth=auth, json=relay_settings(server.port))
        assert (status, body["options"]["port"]) == (200, server.port)
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    webitel.assert_no_secret()


# -- 4. test sends -----------------------------------------------------------

@pytest.mark.parametrize("to_in", ["path", "body"])
async def test_test_send_delivers(api: Api, webitel: Webitel, to_in: str) -> None:
    with smtp_server(auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth, json=relay_settings(server.port))
        if to_in == "path":
            status, body = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                              auth=auth, domain=DOMAIN)
        else:
            status, body = await webitel.call("POST", f"{SETTINGS}/test", auth=auth,
                                              domain=DOMAIN, json={"to": "ops@example.org"})
    assert status == 200, body
    [received] = server.messages
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.mail_from == "relay@d1.example"
    assert received.message["From"] == "relay@d1.example"
    assert received.message["To"] == "ops@example.org"
    assert body == {"status": "OK", "info": {"messageId": received.message["Message-ID"],
                                             "response": body["info"]["response"]}}
    assert isinstance(body["info"]["response"], str)
    assert "250" in body["info"]["response"]
    webitel.assert_no_secret()


async def test_test_send_auth_failure_is_502_with_the_reply_code(api: Api,
                                                                 webitel: Webitel) -> None:
    with smtp_server(auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth,
                           json=relay_settings(server.port, "wrong-password-99"))
        assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
            502, {"status": "error",
                  "info": "Failed sending email: the server refused the login (reply code 535)",
                  "code": 535})
    assert server.messages == []
    webitel.assert_no_secret()


async def test_test_send_without_settings_or_with_a_bad_address(api: Api,
                                                                webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
        404, {"status": "error", "info": f"Not settings EMail provider from domain {DOMAIN}"})
    await webitel.call("POST", auth=auth, json=SEED_CREATE)
    assert await webitel.call("POST", f"{SETTINGS}/test/not-an-address", auth=auth) == (
        400, {"status": "error", "info": "to: Not a valid email address."})
    assert await webitel.call("POST", f"{SETTINGS}/test", auth=auth) == (
        400, {"status": "error", "info": "to: Field may not be null."})


# -- 5. 401s, logout, where key and token may come from ---------------------

@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c",
                                   "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE0NDIwMDIx"
                                   "NzkzNTh9.pKXWfzXqbp8FMbOKocNaSlT1bYq4Xqzol-0kEXOY0_s",
                                   "another-secret", "none-alg", "no-exp", "seconds-exp"])
async def test_bad_tokens_are_invalid_token(api: Api, webitel: Webitel,
                                            token: str | None) -> None:
    _, (key, _) = await dealer_session(api)
    future_ms = int(time.time() * 1000) + 3_600_000
    forged = {
        "another-secret": jwt.encode({"exp": future_ms, "k": "x"},
                                     b"another-key-32-bytes-long-......", algorithm="HS256"),
        "none-alg": jwt.encode({"exp": future_ms, "k": "x"}, None, algorithm="none"),
        "no-exp": jwt.encode({"k": "x"}, b"another-key-32-bytes-long-......",
                             algorithm="HS256"),
    }
    headers = {"X-Key": key}
    if token == "seconds-exp":
        # A genuine token is needed to show the difference; an exp in seconds from
        # another signer is refused as a bad token before its age is looked at.
        token = jwt.encode({"exp": int(time.time()) + 3600, "k": "x"},
                           b"another-key-32-bytes-long-......", algorithm="HS256")
    if token is not None:
        headers["X-Access-Token"] = forged.get(token, token)
    assert await webitel.call("GET", headers=headers, domain=DOMAIN) == (401, INVALID_TOKEN)


async def test_expired_token(api: Api, webitel: Webitel, make_client, db) -> None:  # type: ignore[no-untyped-def]
    await api.dealer("d1", domain=DOMAIN)
    short = Api(await make_client(webitel_token_ttl_seconds=1), db)
    auth = await webitel_login(short, "d1")
    expires = jwt.decode(auth[1], options={"verify_signature": False})["exp"]
    assert 0 < expires - time.time() * 1000 <= 1500
    assert await webitel.call("GET", auth=auth, client=short.client) == (404, NOT_FOUND_GET)
    await asyncio.sleep(1.2)
    assert await webitel.call("GET", auth=auth, client=short.client) == (
        401, {"status": "error", "info": "Token Expired"})


async def test_key_missing_unknown_or_from_another_login(api: Api, webitel: Webitel) -> None:
    _, (key1, token1) = await dealer_session(api)
    key2, token2 = await webitel_login(api, "d1")
    assert await webitel.call("GET", headers={"X-Access-Token": token1}) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(str(uuid.uuid4()), token1)) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(key2, token1)) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(key1, token2)) == (401, INVALID_USER)
    # Another dealer's key with this dealer's token.
    await api.dealer("d2", domain="d2.example")
    key3, _ = await webitel_login(api, "d2")
    assert await webitel.call("GET", auth=(key3, token1)) == (401, INVALID_USER)
    # The right pairs work.
    assert await webitel.call("GET", auth=(key1, token1)) == (404, NOT_FOUND_GET)
    assert await webitel.call("GET", auth=(key2, token2)) == (404, NOT_FOUND_GET)


async def test_a_navixy_hash_is_not_a_webitel_key(api: Api, webitel: Webitel) -> None:
    _, (_, token) = await dealer_session(api)
    h = await api.login("d1")
    assert await webitel.call("GET", auth=(h, token)) == (401, INVALID_USER)


async def test_logout_ends_the_key(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    other = await webitel_login(api, "d1")
    assert await webitel.call("POST", "/logout", auth=auth) == (
        200, {"status": "OK", "info": "Successful logout."})
    assert await webitel.call("GET", auth=auth) == (401, INVALID_USER)
    assert await webitel.call("POST", "/logout", auth=auth) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=other) == (404, NOT_FOUND_GET)  # only that key
    assert await webitel.call("POST", "/logout") == (401, INVALID_TOKEN)


async def test_key_and_token_as_query_or_body_fields(api: Api, webitel: Webitel) -> None:
    dealer_id, (key, token) = await dealer_session(api)
    query = {"access_token": token, "x_key": key}
    assert await webitel.call("GET", query=query) == (404, NOT_FOUND_GET)
    status, created = await webitel.call("POST", json={**SEED_CREATE, **query})
    [row] = await stored(api)
    assert (status, created) == (200, seed_document(row.id, "My Setting"))
    assert await webitel.call("GET", query=query, domain=DOMAIN) == (
        200, seed_document(row.id, "My Setting"))
    assert await webitel.call("POST", "/logout", data=query) == (
        200, {"status": "OK", "info": "Successful logout."})
    assert await webitel.call("GET", query=query) == (401, INVALID_USER)
    assert await bound(api, dealer_id) == row.id


# -- 6. /login ----------------------------------------------------------------

@pytest.mark.parametrize("form", [False, True])
@pytest.mark.parametrize("username", ["d1", f"d1@{DOMAIN}", "d1@MY.Webitel.com"])
async def test_login(api: Api, webitel: Webitel, form: bool, username: str) -> None:
    permissions = {"email_gateways": ["read", "update"]}
    await api.dealer("d1", domain=DOMAIN, permissions=permissions)
    started_ms = time.time() * 1000
    status, body = await webitel.login(username, form=form)
    assert status == 200, body
    assert set(body) == {"key", "token", "expires", "domain", "acl"}
    assert str(uuid.UUID(body["key"])) == body["key"]
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert body["expires"] == claims["exp"]
    assert isinstance(body["expires"], int)
    # Milliseconds, 24 hours ahead by default.
    assert abs(body["expires"] - (started_ms + 24 * 3600 * 1000)) < 60_000
    assert (body["domain"], body["acl"]) == (DOMAIN, permissions)
    assert body["key"] not in body["token"]
    assert await webitel.call("GET", auth=(body["key"], body["token"])) == (404, NOT_FOUND_GET)


async def test_login_of_a_dealer_without_domain(api: Api, webitel: Webitel) -> None:
    await api.dealer("d1")
    status, body = await webitel.login("d1")
    assert (status, body["domain"]) == (200, None)


@pytest.mark.parametrize("username,password", [
    ("d1@other.example", PASSWORD),      # right password, wrong domain
    ("nobody", PASSWORD),                 # unknown user
    ("d1", "wrong password"),             # wrong password
    ("nobody@my.webitel.com", PASSWORD),
])
async def test_login_refused(api: Api, webitel: Webitel, username: str, password: str) -> None:
    await api.dealer("d1", domain=DOMAIN)
    assert await webitel.login(username, password) == (401, INVALID_CREDENTIALS)
    assert await webitel.login(username, password, form=True) == (401, INVALID_CREDENTIALS)


async def test_login_with_an_empty_password_is_bad_input(api: Api, webitel: Webitel) -> None:
    """An empty value counts as absent (as on the Navixy face): a 400 naming the field."""
    await api.dealer("d1", domain=DOMAIN)
    missing = (400, {"status": "error", "info": "password: Missing data for required field."})
    assert await webitel.login("d1", "") == missing
    assert await webitel.login("d1", "", form=True) == missing


async def test_unknown_user_and_wrong_password_answer_the_same(api: Api,
                                                              webitel: Webitel) -> None:
    await api.dealer("d1", domain=DOMAIN)
    unknown = await webitel.login("nobody", PASSWORD)
    wrong = await webitel.login("d1", "wrong password")
    assert unknown == wrong == (401, INVALID_CREDENTIALS)


async def test_blocked_dealer(api: Api, webitel: Webitel) -> None:
    await api.dealer("d1", domain=DOMAIN, block_status="BLOCK_LOGIN")
    assert await webitel.login("d1") == (403, {"status": "error", "info": "Access denied"})
    assert await webitel.login("d1", "wrong password") == (401, INVALID_CREDENTIALS)


async def test_login_without_username_or_with_a_bad_body(api: Api, webitel: Webitel) -> None:
    status, body = await webitel.call("POST", "/login", json={"password": PASSWORD})
    assert (status, body["status"]) == (400, "error")
    assert body == {"status": "error", "info": "username: Missing data for required field."}
    status, body = await webitel.call("POST", "/login", data=b"{not json",
                                      headers={"Content-Type": "application/json"})
    assert (status, body["status"]) == (400, "error")


# -- 7. domains and permissions --------------------------------------------

async def test_no_domain_parameter_uses_the_callers_domain(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("POST", auth=auth, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert await webitel.call("GET", auth=auth, domain="MY.WEBITEL.COM") == (
        200, seed_document(row.id, "My Setting"))


async def test_dealer_without_domain_must_name_one(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api, domain=None)
    required = (400, {"status": "error", "info": "Bad request (domain required)."})
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert await webitel.call(method, auth=auth, json=SEED_CREATE) == required
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == required
    assert await stored(api) == []


async def test_sibling_and_unknown_domains_are_denied_alike(api: Api, webitel: Webitel) -> None:
    await api.dealer("parent", domain="parent.example")
    sibling_id = await api.dealer("sibling", parent="parent", domain="sibling.example")
    gateway_id = await api.gateway(sibling_id, "sibling's")
    await api.bind(sibling_id, gateway_id)
    _, auth = await dealer_session(api, parent="parent")
    for domain in ("sibling.example", "nowhere.example"):
        assert await webitel.call("GET", auth=auth, domain=domain) == (403, PERMISSION_DENIED)
        assert await webitel.call("POST", auth=auth, domain=domain, json=SEED_CREATE) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("PUT", auth=auth, domain=domain, json=SEED_CREATE) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("DELETE", auth=auth, domain=domain) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth,
                                  domain=domain) == (403, PERMISSION_DENIED)
    assert [(row.id, row.label) for row in await stored(api)] == [(gateway_id, "sibling's")]
    assert await bound(api, sibling_id) == gateway_id


async def test_parent_acts_on_child_and_grandchild_domains(api: Api, webitel: Webitel) -> None:
    await api.dealer("parent", domain="parent.example")
    child_id = await api.dealer("child", parent="parent", domain="child.example")
    grandchild_id = await api.dealer("grandchild", parent="child",
                                     domain="grandchild.example")
    parent = await webitel_login(api, "parent")
    for dealer_id, domain in ((child_id, "child.example"),
                              (grandchild_id, "grandchild.example")):
        assert await webitel.call("GET", auth=parent, domain=domain) == (404, NOT_FOUND_GET)
        status, body = await webitel.call("POST", auth=parent, domain=domain, json=SEED_CREATE)
        gateway_id = await bound(api, dealer_id)
        assert gateway_id is not None
        assert (status, body) == (200, {**seed_document(gateway_id, "My Setting"),
                                        "domain": domain})
        [owner] = await api.sql("SELECT owner_id FROM email_gateways WHERE id = :id",
                                id=gateway_id)
        assert owner.owner_id == dealer_id
        assert await webitel.call("GET", auth=parent, domain=domain) == (200, body)
    # The parent's own domain is untouched.
    assert await webitel.call("GET", auth=parent) == (404, NOT_FOUND_GET)
    # The child reaches its own child too, but not its parent.
    child = await webitel_login(api, "child")
    assert (await webitel.call("GET", auth=child, domain="grandchild.example"))[0] == 200
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert await webitel.call(method, auth=child, domain="parent.example",
                                  json=SEED_CREATE) == (403, PERMISSION_DENIED)
    grandchild = await webitel_login(api, "grandchild")
    assert await webitel.call("GET", auth=grandchild, domain="child.example") == (
        403, PERMISSION_DENIED)
    webitel.assert_no_secret()


async def test_read_only_dealer(api: Api, webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api, permissions={"email_gateways": ["read"]})
    gateway_id = await api.gateway(dealer_id, "relay", **{"mail.smtp.host": "relay.example"})
    await api.bind(dealer_id, gateway_id)
    before = await stored(api)
    status, body = await webitel.call("GET", auth=auth)
    assert (status, body["_id"]) == (200, str(gateway_id))
    assert await webitel.call("POST", auth=auth, json=SEED_CREATE) == (403, PERMISSION_DENIED)
    assert await webitel.call("PUT", auth=auth, json=SEED_CREATE) == (403, PERMISSION_DENIED)
    assert await webitel.call("DELETE", auth=auth) == (403, PERMISSION_DENIED)
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
        403, PERMISSION_DENIED)
    assert await webitel.call("POST", f"{SETTINGS}/test", auth=auth,
                              json={"to": "ops@example.org"}) == (403, PERMISSION_DENIED)
    assert await stored(api) == before
    assert await bound(api, dealer_id) == gateway_id


async def test_without_read_permission_get_is_denied(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api, permissions={"email_gateways": ["create"]})
    assert await webitel.call("GET", auth=auth) == (403, PERMISSION_DENIED)


async def test_create_only_dealer_creates_but_cannot_replace(api: Api,
                                                             webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api, permissions={"email_gateways": ["create"]})
    status, body = await webitel.call("POST", auth=auth, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert await bound(api, dealer_id) == row.id
    assert await webitel.call("POST", auth=auth, json=SEED_UPDATE) == (403, PERMISSION_DENIED)
    assert await stored(api) == [row]
    webitel.assert_no_secret()


# -- 8. errors ----------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("raw,info", [
    (b"{not json", "Wrong request format: the body is not valid JSON"),
    (b"[1, 2]", "Wrong request format: the JSON body must be an object"),
])
async def test_malformed_json_body(api: Api, webitel: Webitel, method: str, raw: bytes,
                                   info: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call(method, auth=auth, data=raw,
                              headers={"Content-Type": "application/json"}) == (
        400, {"status": "error", "info": info})


def _with(path: str, value: Any) -> dict[str, Any]:
    """SEED_CREATE with one dotted field replaced (or removed when value is ...)."""
    body = copy.deepcopy(SEED_CREATE)
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize("path,value,info", [
    ("options.port", 0,
     "options.port: Must be greater than or equal to 1 and less than or equal to 65535."),
    ("options.port", 65536,
     "options.port: Must be greater than or equal to 1 and less than or equal to 65535."),
    ("options.host", ..., "options.host: Missing data for required field."),
    ("provider", "ses", "provider: Must be one of: smtp."),
    ("provider", ..., "provider: Missing data for required field."),
    ("options", ..., "options: Missing data for required field."),
])
async def test_validation_names_the_field(api: Api, webitel: Webitel, path: str, value: Any,
                                          info: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call("POST", auth=auth, json=_with(path, value)) == (
        400, {"status": "error", "info": info})
    assert await stored(api) == []


@pytest.mark.parametrize("path,value,field", [
    ("options.port", "abc", "options.port"),
    ("options.port", 1.5, "options.port"),
    ("options.port", None, "options.port"),
    ("options.host", "not a host!", "options.host"),
    ("options.host", "", "options.host"),
    ("options.host", 42, "options.host"),
    ("options", "x", "options"),
    ("options", None, "options"),
    ("options.secure", "maybe", "options.secure"),
    ("options.tls", 5, "options.tls"),
    ("options.auth", "x", "options.auth"),
    ("options.auth.user", ..., "options.auth.user"),
    ("options.auth.pass", 12345, "options.auth.pass"),
    ("from", "not-an-address", "from"),
    ("description", "x" * 101, "description"),
    ("provider", None, "provider"),
])
async def test_bad_fields_are_400_naming_them(api: Api, webitel: Webitel, path: str,
                                              value: Any, field: str) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("POST", auth=auth, json=_with(path, value))
    assert (status, body["status"]) == (400, "error"), body
    assert body["info"].startswith(f"{field}: "), body
    assert set(body) == {"status", "info"}
    assert await stored(api) == []
    # The same against stored settings, by replace (POST) and by PUT.
    assert (await webitel.call("POST", auth=auth, json=SEED_CREATE))[0] == 200
    before = await stored(api)
    for method in ("POST", "PUT"):
        status, body = await webitel.call(method, auth=auth, json=_with(path, value))
        assert (status, body["status"]) == (400, "error"), body
        assert body["info"].startswith(f"{field}: "), body
        assert set(body) == {"status", "info"}
    assert await stored(api) == before


async def test_body_that_is_not_a_document(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    for data in (b"", b"provider=smtp"):
        status, body = await webitel.call("POST", auth=auth, data=data)
        assert (status, body["status"]) == (400, "error"), body


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_unknown_path(api: Api, webitel: Webitel, method: str) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call(method, "/api/v2/nothing", auth=auth) == (
        404, {"status": "error", "info": "/api/v2/nothing not found."})
    assert await webitel.call(method, "/api/v2/nothing") == (
        404, {"status": "error", "info": "/api/v2/nothing not found."})


async def test_other_method_on_settings_is_not_a_500(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("PATCH", auth=auth, json=SEED_CREATE)
    assert status in (404, 405), body
    assert body["status"] == "error"


async def test_unexpected_failures_answer_in_webitel_shape(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The edge middleware renders what the Webitel handlers do not catch, in their shape."""
    from navixy_panel.services import dealers as dealers_service

    await api.dealer("d1", domain="d1.example")
    login = await (await api.client.post("/login", json={"username": "d1",
                                                         "password": PASSWORD})).json()
    headers = {"X-Key": login["key"], "X-Access-Token": login["token"]}
    for failure, expected in ((RuntimeError("SELECT secret"), (500, "Unexpected error")),
                              (ConnectionRefusedError(), (503, "Database unavailable"))):
        async def broken(*args: Any, failure: Exception = failure, **kwargs: Any) -> None:
            raise failure

        monkeypatch.setattr(dealers_service, "get_dealer_in_scope", broken)
        response = await api.client.get("/api/v2/email/settings", headers=headers)
        assert (response.status, await response.json()) == (
            expected[0], {"status": "error", "info": expected[1]})
    assert "SELECT secret" in caplog.text  # logged for the operator, never answered

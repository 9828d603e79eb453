"""XOAUTH2 gateways: a token from the client-credentials grant, then AUTH XOAUTH2.

Microsoft 365 cannot be reached from here; what stands in for it: authlib's
server-side token endpoint (client credentials, bearer tokens with `expires_in`)
over TLS with a trustme CA, trusted through NAVIXY_PANEL_TLS_CA_FILE's setting, and
an aiosmtpd server that takes AUTH XOAUTH2 only with a token that endpoint issued
for the mailbox (RFC 7628's error challenge otherwise), behind STARTTLS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult

from navixy_panel.mail import oauth
from tests.support.api import Api, send_email
from tests.support.oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAILBOX,
    SCOPE,
    TokenEndpoint,
    XOAuth2Handler,
    token_endpoint,
)
from tests.support.smtp import aiosmtpd_server, server_context
from tests.support.webitel import Webitel, webitel_login

OAUTH_KEYS = ("mail.smtp.auth.mechanisms", "mail.smtp.auth.xoauth2.token_url",
              "mail.smtp.auth.xoauth2.client_id")


@dataclass
class Rig:
    api: Api
    ca: trustme.CA
    endpoint: TokenEndpoint
    handler: XOAuth2Handler
    smtp_port: int


def _no_passwords(*args: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


@pytest.fixture(autouse=True)
def empty_token_cache() -> Iterator[None]:
    oauth._cache.clear()
    yield
    oauth._cache.clear()


@pytest.fixture
async def rig(make_client, db) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    api = Api(await make_client(tls_ca_pem=ca.cert_pem.bytes().decode()), db)
    async with token_endpoint(ca) as endpoint:
        handler = XOAuth2Handler(endpoint)
        with aiosmtpd_server(starttls=server_context(ca, "127.0.0.1"), handler=handler,
                             authenticator=_no_passwords, auth_require_tls=True) as server:
            yield Rig(api, ca, endpoint, handler, server.port)


def oauth_gateway(rig: Rig, **params: Any) -> dict[str, Any]:
    return {"label": "Microsoft 365", "provider": "smtp", "leasable": params.pop("leasable", False),
            "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": rig.smtp_port,
                       "mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True,
                       "mail.smtp.auth": True, "mail.smtp.user": MAILBOX,
                       "mail.smtp.password": CLIENT_SECRET,
                       "mail.smtp.auth.mechanisms": "XOAUTH2",
                       "mail.smtp.auth.xoauth2.token_url": rig.endpoint.url,
                       "mail.smtp.auth.xoauth2.client_id": CLIENT_ID,
                       "default_from_address": MAILBOX, **params}}


async def create(rig: Rig, login: str = "d1", **params: Any) -> tuple[str, int]:
    h = await rig.api.login(login)
    created = await rig.api.ok("gateways/email/create", hash=h,
                               json={"gateway": oauth_gateway(rig, **params)})
    return h, int(created["id"])


async def test_sends_with_a_client_credentials_token_cached(rig: Rig) -> None:
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig)
    assert await send_email(rig.api, h, gateway_id) == (200, {"success": True})
    assert await send_email(rig.api, h, gateway_id) == (200, {"success": True})
    assert [m.mail_from for m in rig.handler.messages] == [MAILBOX, MAILBOX]
    assert rig.handler.messages[0].tls is True
    # One token for both sends: the grant as RFC 6749 section 4.4 spells it.
    assert rig.endpoint.requests == [{"grant_type": "client_credentials", "scope": SCOPE,
                                      "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]
    assert rig.handler.attempts == [True, True]
    [own] = (await rig.api.ok("gateways/email/list", hash=h))["own"]
    assert own["params"]["mail.smtp.password"] is None
    assert {key: own["params"][key] for key in OAUTH_KEYS} == {
        OAUTH_KEYS[0]: "XOAUTH2", OAUTH_KEYS[1]: rig.endpoint.url, OAUTH_KEYS[2]: CLIENT_ID}


async def test_a_refused_cached_token_is_fetched_again_once(rig: Rig) -> None:
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig)
    assert await send_email(rig.api, h, gateway_id) == (200, {"success": True})
    rig.endpoint.revoke_all()  # the server no longer takes the cached token
    assert await send_email(rig.api, h, gateway_id) == (200, {"success": True})
    assert rig.handler.attempts == [True, False, True]
    assert len(rig.endpoint.requests) == 2
    assert len(rig.handler.messages) == 2


async def test_a_fresh_token_refused_is_not_fetched_again(rig: Rig) -> None:
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig, **{"mail.smtp.user": "someone-else@dealer.example"})
    assert await send_email(rig.api, h, gateway_id) == (400, {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the server refused the login (reply code 535)"}})
    assert (rig.handler.attempts, len(rig.endpoint.requests)) == ([False], 1)


async def test_wrong_secret_is_invalid_client_and_never_logged(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig, **{"mail.smtp.password": "wrong-client-secret-77",
                                         "mail.debug": True})
    status, body = await send_email(rig.api, h, gateway_id)
    assert (status, body) == (400, {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the token endpoint refused the request "
                       "(invalid_client)"}})
    assert rig.handler.attempts == [] and rig.handler.messages == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "wrong-client-secret-77" not in logged and CLIENT_SECRET not in logged


async def test_a_leased_gateway_tells_only_the_kind(rig: Rig) -> None:
    await rig.api.dealer("parent")
    _hp, relay_id = await create(rig, "parent", leasable=True,
                                 **{"mail.smtp.password": "wrong-client-secret-77"})
    await rig.api.dealer("child", parent="parent")
    hc = await rig.api.login("child")
    await rig.api.ok("dealer/settings/notification/email/update", hash=hc,
                     json={"email_from": "child@child.example"})
    assert await send_email(rig.api, hc, relay_id) == (400, {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the OAuth token could not be obtained"}})


async def test_a_panel_form_save_keeps_the_oauth_keys(rig: Rig) -> None:
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig)
    [own] = (await rig.api.ok("gateways/email/list", hash=h))["own"]
    # Navixy's admin panel: the keys it knows, the password null (kept), a new label.
    panel = {key: value for key, value in own["params"].items()
             if not key.startswith("mail.smtp.auth.")}
    await rig.api.ok("gateways/email/update", hash=h, json={"gateway": {
        "id": gateway_id, "label": "M365 (renamed)", "provider": "smtp", "leasable": False,
        "params": panel}})
    [own] = (await rig.api.ok("gateways/email/list", hash=h))["own"]
    assert (own["label"], own["params"][OAUTH_KEYS[0]]) == ("M365 (renamed)", "XOAUTH2")
    assert await send_email(rig.api, h, gateway_id) == (200, {"success": True})
    assert rig.handler.attempts == [True]


async def test_a_new_token_url_or_client_needs_the_secret_again(rig: Rig) -> None:
    await rig.api.dealer("d1")
    h, gateway_id = await create(rig)
    [own] = (await rig.api.ok("gateways/email/list", hash=h))["own"]
    for key, value in [(OAUTH_KEYS[1], "https://login.example.net/token"),
                       (OAUTH_KEYS[2], "another-client")]:
        status, body = await rig.api.call("gateways/email/update", hash=h, json={"gateway": {
            "id": gateway_id, "label": own["label"], "provider": "smtp", "leasable": False,
            "params": {**own["params"], key: value}}})
        assert (status, body["errors"]) == (400, [{
            "parameter": "gateway.params.mail.smtp.password",
            "error": "Enter the password again: the server, ports, TLS settings or user "
                     "changed."}])


@pytest.mark.parametrize(("params", "errors"), [
    ({"mail.smtp.auth.xoauth2.token_url": "http://login.example.net/token"},
     [("mail.smtp.auth.xoauth2.token_url", "Must be an https URL.")]),
    ({"mail.smtp.auth.xoauth2.token_url": None},
     [("mail.smtp.auth.xoauth2.token_url", "Required with mail.smtp.auth.mechanisms XOAUTH2.")]),
    ({"mail.smtp.auth.mechanisms": "XOAUTH2 PLAIN"},
     [("mail.smtp.auth.mechanisms", "XOAUTH2 cannot be combined with password mechanisms.")]),
])
async def test_refused_oauth_params(rig: Rig, params: dict[str, Any],
                                    errors: list[tuple[str, str]]) -> None:
    await rig.api.dealer("d1")
    h = await rig.api.login("d1")
    status, body = await rig.api.call("gateways/email/create", hash=h,
                                      json={"gateway": oauth_gateway(rig, **params)})
    assert (status, body["status"]["code"], body["errors"]) == (400, 7, [
        {"parameter": f"gateway.params.{key}", "error": error} for key, error in errors])


async def test_token_url_on_a_refused_network(make_client, db) -> None:  # type: ignore[no-untyped-def]
    """127.0.0.2 is loopback too, but only 127.0.0.1 is opened: refused at save, and at
    send time when the policy narrowed after the save."""
    ca = trustme.CA()
    pem = ca.cert_pem.bytes().decode()
    async with token_endpoint(ca, host="127.0.0.2") as endpoint:
        handler = XOAuth2Handler(endpoint)
        with aiosmtpd_server(starttls=server_context(ca, "127.0.0.1"), handler=handler,
                             authenticator=_no_passwords) as server:
            wide = Api(await make_client(tls_ca_pem=pem), db)
            narrow = Api(await make_client(tls_ca_pem=pem,
                                           smtp_allowed_networks=("127.0.0.1/32",)), db)
            await wide.dealer("d1")
            rig = Rig(narrow, ca, endpoint, handler, server.port)
            h = await narrow.login("d1")
            status, body = await narrow.call("gateways/email/create", hash=h,
                                             json={"gateway": oauth_gateway(rig)})
            assert (status, body["errors"]) == (400, [{
                "parameter": "gateway.params.mail.smtp.auth.xoauth2.token_url",
                "error": "Not allowed: 127.0.0.2 is a loopback address."}])
            created = await wide.ok("gateways/email/create", hash=await wide.login("d1"),
                                    json={"gateway": oauth_gateway(rig)})
            assert await send_email(narrow, h, created["id"]) == (400, {
                "success": False, "status": {"code": 209, "description": (
                    "Failed sending email: the token endpoint is not reachable: the "
                    "destination is not allowed: 127.0.0.2 is a loopback address")}})
    assert (endpoint.requests, handler.attempts) == ([], [])


async def test_a_stalling_token_endpoint_still_answers_in_time(make_client, db) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    api = Api(await make_client(tls_ca_pem=ca.cert_pem.bytes().decode(),
                                request_timeout_seconds=3), db)
    async with token_endpoint(ca) as endpoint:
        endpoint.stall = 60
        handler = XOAuth2Handler(endpoint)
        with aiosmtpd_server(starttls=server_context(ca, "127.0.0.1"), handler=handler,
                             authenticator=_no_passwords) as server:
            await api.dealer("d1")
            h, gateway_id = await create(Rig(api, ca, endpoint, handler, server.port))
            started = time.monotonic()
            status, body = await send_email(api, h, gateway_id)
            elapsed = time.monotonic() - started
    assert (status, body) == (400, {"success": False, "status": {
        "code": 209, "description": "Failed sending email: the token endpoint did not "
                                    "answer in time"}})
    assert 1.5 < elapsed < 3.0, elapsed


async def test_webitel_oauth2_settings_send_and_read_back(rig: Rig) -> None:
    """nodemailer's `auth: {type: "OAuth2", …}`; the secret never comes back, and PUTting
    back what GET answered keeps it."""
    await rig.api.dealer("d1", domain="d1.example")
    webitel = Webitel(rig.api)
    auth = await webitel_login(rig.api, "d1")
    oauth2 = {"type": "OAuth2", "user": MAILBOX, "clientId": CLIENT_ID,
              "clientSecret": CLIENT_SECRET, "accessUrl": rig.endpoint.url}
    document = {"provider": "smtp", "description": "M365", "from": MAILBOX,
                "options": {"host": "127.0.0.1", "port": rig.smtp_port, "secure": False,
                            "debug": False, "tls": {"rejectUnauthorized": True},
                            "auth": oauth2}}
    status, answer = await webitel.call("POST", auth=auth, domain="d1.example", json=document)
    assert (status, answer["options"]["auth"]) == (200, {
        "user": MAILBOX, "pass": None, "type": "OAuth2", "clientId": CLIENT_ID,
        "clientSecret": None, "accessUrl": rig.endpoint.url, "scope": SCOPE})
    assert CLIENT_SECRET not in str(answer)
    status, answer = await webitel.call("PUT", auth=auth, domain="d1.example", json=answer)
    assert status == 200
    status, sent = await webitel.call("POST", "/api/v2/email/settings/test", auth=auth,
                                      domain="d1.example", json={"to": "ops@example.org"})
    assert (status, sent["status"]) == (200, "OK")
    assert rig.handler.attempts == [True] and len(rig.handler.messages) == 1
    status, checked = await webitel.call("POST", "/api/v2/email/settings/check", auth=auth,
                                         domain="d1.example", json={})
    assert [(s["stage"], s["result"], s["code"]) for s in checked["info"]["stages"]] == [
        ("connect", "pass", 220), ("ehlo", "pass", 250), ("tls", "pass", 220),
        ("token", "pass", None), ("auth", "pass", 235), ("mail_from", "pass", 250),
        ("rcpt_to", "pass", 250), ("rset", "pass", 250)]
    assert "XOAUTH2" in checked["info"]["auth_mechanisms"]
    assert len(rig.handler.messages) == 1  # the check sent nothing

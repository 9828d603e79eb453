"""Test sends through Debian's Postfix, the way dealers' real relays are set up.

A submission port with `smtpd_tls_security_level=encrypt` offers AUTH only after
STARTTLS, and only in the EHLO that follows the upgrade; each mechanism is forced
by a port whose Cyrus SASL offers only it (the service picks the best offered,
CRAM-MD5, then PLAIN, then LOGIN). Certificates are verified: the trustme CA that
signed Postfix's certificate is the process's CA file (`SSL_CERT_FILE`) for the test.
Both faces, and the Mandrill example of docs/operations.md as the operator types it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from navixy_panel.settings import Settings
from tests.support.api import PASSWORD, Api
from tests.support.postfix import (
    ALL,
    HOST,
    MECHANISMS,
    USERS,
    Postfix,
    running_postfix,
    skip_reason,
)

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

USER = "relay-user"
SETTINGS = "/api/v2/email/settings"
DOMAIN = "d1.example"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    with running_postfix() as server:
        yield server


@pytest.fixture
def trusted(postfix: Postfix, monkeypatch: pytest.MonkeyPatch) -> Postfix:
    """The service verifies Postfix's certificate against the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(postfix.ca_file))
    return postfix


def sasl_logins(postfix: Postfix, mechanism: str) -> int:
    return postfix.log().count(f"sasl_method={mechanism}, sasl_username={USER}@")


def wait_for_login(postfix: Postfix, mechanism: str, before: int) -> int:
    """Postfix's log line comes through its log daemon a moment later."""
    deadline = time.monotonic() + 5
    while sasl_logins(postfix, mechanism) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    return sasl_logins(postfix, mechanism) - before


async def navixy_gateway(api: Api, **params: Any) -> tuple[str, int]:
    await api.dealer("d1", domain=DOMAIN)
    h = await api.login("d1")
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "fleet@d1.example", "email_footer": "Fleet d1"})
    gateway = {"label": "postfix", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": HOST, "mail.smtp.auth": True,
                          "mail.smtp.user": USER, "mail.smtp.password": USERS[USER],
                          **params}}
    created = await api.ok("gateways/email/create", hash=h, json={"gateway": gateway})
    return h, int(created["id"])


async def navixy_send(api: Api, h: str, gateway_id: int) -> tuple[int, dict[str, Any]]:
    return await api.call("gateways/email/send_email", hash=h,
                          json={"to": "ops@example.org", "gateway_id": gateway_id})


def starttls(port: int, **more: Any) -> dict[str, Any]:
    """587-style: a plain connection upgraded with STARTTLS, which is required."""
    return {"mail.smtp.port": port, "mail.smtp.starttls.enable": True,
            "mail.smtp.starttls.required": True, **more}


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_starttls_then_auth_with_each_mechanism(api: Api, trusted: Postfix,
                                                      mechanism: str) -> None:
    h, gateway_id = await navixy_gateway(api, **starttls(trusted.ports[mechanism]))
    before, delivered = sasl_logins(trusted, mechanism), len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (200, {"success": True})
    received = trusted.wait_for_messages(delivered + 1)[delivered]
    assert (received.mail_from, received.rcpt_tos) == ("fleet@d1.example", ["ops@example.org"])
    assert received.message["Subject"] == "Test message from navixy-panel"
    assert wait_for_login(trusted, mechanism, before) == 1, trusted.log()[-2000:]


async def test_mechanisms_param_picks_login_where_all_are_offered(api: Api,
                                                                   trusted: Postfix) -> None:
    """`mail.smtp.auth.mechanisms` LOGIN on the port offering all three: Postfix logs
    the LOGIN it received, not the CRAM-MD5 the service would prefer."""
    h, gateway_id = await navixy_gateway(api, **starttls(
        trusted.ports[ALL], **{"mail.smtp.auth.mechanisms": "LOGIN"}))
    before, crammd5 = sasl_logins(trusted, "LOGIN"), sasl_logins(trusted, "CRAM-MD5")
    delivered = len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (200, {"success": True})
    assert len(trusted.wait_for_messages(delivered + 1)) == delivered + 1
    assert wait_for_login(trusted, "LOGIN", before) == 1
    assert sasl_logins(trusted, "CRAM-MD5") == crammd5


async def test_mechanisms_param_none_offered(api: Api, trusted: Postfix) -> None:
    h, gateway_id = await navixy_gateway(api, **starttls(
        trusted.ports["CRAM-MD5"], **{"mail.smtp.auth.mechanisms": "PLAIN LOGIN"}))
    delivered = len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (400, {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the server offers none of the AUTH mechanisms "
                       "allowed (mail.smtp.auth.mechanisms: PLAIN LOGIN)"}})
    assert len(trusted.wait_for_messages(delivered + 1, timeout=0.5)) == delivered


async def test_starttls_without_required_still_logs_in(api: Api, trusted: Postfix) -> None:
    """What Webitel's `secure: false` maps to: STARTTLS when offered."""
    h, gateway_id = await navixy_gateway(api, **{"mail.smtp.port": trusted.ports[ALL],
                                                 "mail.smtp.starttls.enable": True})
    delivered = len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (200, {"success": True})
    assert len(trusted.wait_for_messages(delivered + 1)) == delivered + 1


async def test_implicit_tls_then_auth(api: Api, trusted: Postfix) -> None:
    h, gateway_id = await navixy_gateway(api, **{
        "mail.smtp.port": 1, "mail.smtp.use_ssl": True, "mail.smtp.ssl.port": trusted.smtps_port})
    before, delivered = sasl_logins(trusted, "CRAM-MD5"), len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (200, {"success": True})
    assert len(trusted.wait_for_messages(delivered + 1)) == delivered + 1
    assert wait_for_login(trusted, "CRAM-MD5", before) == 1  # the best of the three offered


@pytest.mark.parametrize("port", ["starttls", "implicit"])
async def test_wrong_password_is_535_by_code_only(api: Api, trusted: Postfix,
                                                  port: str) -> None:
    params = (starttls(trusted.ports[ALL]) if port == "starttls" else
              {"mail.smtp.use_ssl": True, "mail.smtp.ssl.port": trusted.smtps_port})
    h, gateway_id = await navixy_gateway(api, **{**params,
                                                 "mail.smtp.password": "wrong-password-99"})
    delivered = len(trusted.messages)
    assert await navixy_send(api, h, gateway_id) == (400, {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the server refused the login (reply code 535)"}})
    assert len(trusted.wait_for_messages(delivered + 1, timeout=0.5)) == delivered


async def test_certificate_not_trusted_without_the_ca(api: Api, postfix: Postfix) -> None:
    """The same port without the test CA: verification is on, nothing is sent."""
    h, gateway_id = await navixy_gateway(api, **starttls(postfix.ports[ALL]))
    status, body = await navixy_send(api, h, gateway_id)
    assert (status, body["status"]["code"]) == (400, 209)
    assert "certificate verify failed" in body["status"]["description"]


# -- Webitel's test send ------------------------------------------------------

async def webitel_auth(api: Api) -> dict[str, str]:
    response = await api.client.post("/login", json={"username": "d1", "password": PASSWORD})
    body = await response.json()
    return {"X-Key": body["key"], "X-Access-Token": body["token"]}


def webitel_document(port: int, *, secure: bool, password: str = USERS[USER]) -> dict[str, Any]:
    return {"provider": "smtp", "description": "Postfix", "from": "relay@d1.example",
            "options": {"host": HOST, "port": port, "secure": secure, "debug": False,
                        "tls": {"rejectUnauthorized": True},
                        "auth": {"user": USER, "pass": password}}}


async def webitel_test_send(api: Api, document: dict[str, Any]) -> tuple[int, Any]:
    await api.dealer("d1", domain=DOMAIN)
    headers = await webitel_auth(api)
    saved = await api.client.post(SETTINGS, json=document, headers=headers)
    assert saved.status == 200, await saved.text()
    response = await api.client.post(f"{SETTINGS}/test/ops@example.org", headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("secure", [False, True])
async def test_webitel_test_send(api: Api, trusted: Postfix, secure: bool) -> None:
    port = trusted.smtps_port if secure else trusted.ports[ALL]
    delivered = len(trusted.messages)
    status, body = await webitel_test_send(api, webitel_document(port, secure=secure))
    assert status == 200, body
    received = trusted.wait_for_messages(delivered + 1)[delivered]
    assert body == {"status": "OK", "info": {"messageId": received.message["Message-ID"],
                                             "response": body["info"]["response"]}}
    assert re.fullmatch(r"250 2\.0\.0 Ok: queued as \w+", body["info"]["response"]), body
    assert received.mail_from == "relay@d1.example"


async def test_webitel_wrong_password(api: Api, trusted: Postfix) -> None:
    document = webitel_document(trusted.ports[ALL], secure=False, password="wrong-password-99")
    assert await webitel_test_send(api, document) == (502, {
        "status": "error", "code": 535,
        "info": "Failed sending email: the server refused the login (reply code 535)"})


# -- the Mandrill example of docs/operations.md --------------------------------

def readme_mandrill_params() -> dict[str, Any]:
    """The `--params` of docs/operations.md's `gateway create ... mandrill_smtp` block."""
    text = OPERATIONS.read_text()
    block = text[text.index("--provider mandrill_smtp"):]
    raw = block[block.index("--params '") + len("--params '"):]
    return dict(json.loads(raw[:raw.index("'")]))


async def test_readme_mandrill_example_sends(api: Api, trusted: Postfix, database_url: str,
                                             settings: Settings) -> None:
    params = readme_mandrill_params()
    assert (params["mail.smtp.port"], params["mail.smtp.starttls.enable"],
            params["mail.smtp.auth"], params["mail.smtp.user"]) == (587, True, True, "ops")
    params.update({"mail.smtp.host": HOST, "mail.smtp.port": trusted.ports["LOGIN"]})
    await api.dealer("owner")
    env = {**os.environ, "DATABASE_URL": database_url,
           "NAVIXY_PANEL_SECRET_KEY": ",".join(settings.secret_keys),
           "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": "127.0.0.0/8"}
    done = subprocess.run(
        [sys.executable, "-m", "navixy_panel", "gateway", "create", "--owner", "owner",
         "--label", "Mandrill", "--provider", "mandrill_smtp", "--leasable",
         "--password-stdin", "--params", json.dumps(params)],
        input=USERS["ops"] + "\n", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    gateway_id = int(json.loads(done.stdout)["id"])
    api.invalidate()
    h = await api.login("owner")
    delivered, before = len(trusted.messages), trusted.log().count("sasl_username=ops@")
    assert await api.call("gateways/email/send_email", hash=h, json={
        "to": "ops@example.org", "gateway_id": gateway_id}) == (200, {"success": True})
    received = trusted.wait_for_messages(delivered + 1)[delivered]
    assert received.mail_from == "no-reply@x-gpsmail.com"
    assert trusted.log().count("sasl_method=LOGIN, sasl_username=ops@") == before + 1


async def test_check_without_sending(api: Api, trusted: Postfix) -> None:
    """gateways/email/check against Postfix's submission port: STARTTLS, the second
    EHLO's AUTH, a real SASL login, MAIL FROM and RCPT TO accepted, then RSET; the
    sink receives nothing."""
    h, gateway_id = await navixy_gateway(api, **starttls(trusted.ports[ALL]))
    before, delivered = sasl_logins(trusted, "CRAM-MD5"), len(trusted.messages)
    status, body = await api.call("gateways/email/check", hash=h,
                                  json={"gateway_id": gateway_id, "to": "ops@example.org"})
    assert status == 200, body
    assert [(s["stage"], s["result"], s["code"]) for s in body["stages"]] == [
        ("connect", "pass", 220), ("ehlo", "pass", 250), ("tls", "pass", 220),
        ("auth", "pass", 235), ("mail_from", "pass", 250), ("rcpt_to", "pass", 250),
        ("rset", "pass", 250)]
    assert body["passed"] is True
    assert sorted(body["auth_mechanisms"]) == ["CRAM-MD5", "LOGIN", "PLAIN"]
    assert "STARTTLS" not in body["extensions"] and "AUTH" in body["extensions"]
    assert body["certificate"]["subject"] and body["certificate"]["issuer"]
    assert wait_for_login(trusted, "CRAM-MD5", before) == 1
    assert len(trusted.wait_for_messages(delivered + 1, timeout=1.0)) == delivered

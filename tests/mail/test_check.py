"""Checking a gateway without sending: `gateways/email/check` and Webitel's
`POST /api/v2/email/settings/check` run the sending session (connect, TLS, EHLO,
AUTH, MAIL FROM, RCPT TO) and end it with RSET and QUIT; no message reaches the
server. The answer times each stage and shows what the server offered and its
certificate; through a leased gateway only each stage's result and reply code.
The Postfix case is in test_postfix_relay.py.
"""

from __future__ import annotations

import ssl
from typing import Any

import trustme
from aiosmtpd.smtp import Envelope
from cryptography import x509

from tests.support.api import Api
from tests.support.smtp import PASSWORD, USER, Recorder, aiosmtpd_server, smtp_server
from tests.support.webitel import Webitel, webitel_login

FULL = ["connect", "ehlo", "tls", "auth", "mail_from", "rcpt_to", "rset"]


async def dealer(api: Api, login: str = "d1", **kwargs: Any) -> str:
    await api.dealer(login, **kwargs)
    h = await api.login(login)
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": f"Fleet <fleet@{login}.example>"})
    return h


def relay(port: int, leasable: bool = False, **params: Any) -> dict[str, Any]:
    return {"label": "relay", "provider": "smtp", "leasable": leasable,
            "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                       "mail.smtp.starttls.enable": True, "mail.smtp.ssl.trust_all_hosts": True,
                       "mail.smtp.auth": True, "mail.smtp.user": USER,
                       "mail.smtp.password": PASSWORD, **params}}


def stages(body: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    for stage in body["stages"]:
        assert isinstance(stage["ms"], int) and 0 <= stage["ms"] < 10_000
    return [(s["stage"], s["result"], s["code"]) for s in body["stages"]]


class Envelopes(Recorder):
    """Records MAIL FROM and RCPT TO; refuses recipients at refused.example."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        self.seen.append(f"MAIL {address}")
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        self.seen.append(f"RCPT {address}")
        if address.endswith("@refused.example"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_every_stage_passes_and_nothing_is_sent(make_client, db) -> None:  # type: ignore[no-untyped-def]
    """The certificate is verified through NAVIXY_PANEL_TLS_CA_FILE's CA, not trusted blindly."""
    ca = trustme.CA()
    api = Api(await make_client(tls_ca_pem=ca.cert_pem.bytes().decode()), db)
    issued = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(context)
    handler = Envelopes()
    h = await dealer(api)
    with aiosmtpd_server(starttls=context, handler=handler,
                         authenticator=lambda *a: _login(*a), auth_require_tls=True) as server:
        created = await api.ok("gateways/email/create", hash=h, json={"gateway": relay(
            server.port, **{"mail.smtp.ssl.trust_all_hosts": False})})
        status, body = await api.call("gateways/email/check", hash=h,
                                      json={"gateway_id": created["id"]})
    assert status == 200, body
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    assert stages(body) == [("connect", "pass", 220), ("ehlo", "pass", 250),
                            ("tls", "pass", 220), ("auth", "pass", 235),
                            ("mail_from", "pass", 250), ("rcpt_to", "pass", 250),
                            ("rset", "pass", 250)]
    assert [s["error"] for s in body["stages"]] == [None] * 7
    assert (body["success"], body["passed"]) == (True, True)
    assert body["auth_mechanisms"] == ["LOGIN", "PLAIN"]
    assert "AUTH" in body["extensions"] and "STARTTLS" not in body["extensions"]  # after TLS
    assert body["certificate"]["issuer"] == cert.issuer.rfc4514_string()
    assert body["certificate"]["subject"] == cert.subject.rfc4514_string()
    assert body["certificate"]["expires"].endswith("+00:00")
    # RCPT TO is the sender without `to`, and no message was sent.
    assert handler.seen == ["MAIL fleet@d1.example", "RCPT fleet@d1.example"]
    assert server.messages == []


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    return AuthResult(success=ok, handled=False)


async def test_a_refused_recipient_is_the_failed_stage(api: Api) -> None:
    handler = Envelopes()
    h = await dealer(api)
    with aiosmtpd_server(handler=handler) as server:
        created = await api.ok("gateways/email/create", hash=h, json={"gateway": relay(
            server.port, **{"mail.smtp.auth": False, "mail.smtp.starttls.enable": False})})
        status, body = await api.call("gateways/email/check", hash=h, json={
            "gateway_id": created["id"], "to": "nobody@refused.example"})
    assert (status, body["passed"], body["certificate"]) == (200, False, None)
    assert stages(body) == [("connect", "pass", 220), ("ehlo", "pass", 250),
                            ("mail_from", "pass", 250), ("rcpt_to", "fail", 550)]
    assert body["stages"][-1]["error"] == (
        "the server replied 550 5.1.1 <nobody@refused.example>: Recipient address rejected")
    assert server.messages == []


async def test_a_wrong_password_fails_at_auth_by_code(api: Api) -> None:
    h = await dealer(api)
    with smtp_server(starttls=True, auth=True, auth_after_tls=True) as server:
        created = await api.ok("gateways/email/create", hash=h, json={"gateway": relay(
            server.port, **{"mail.smtp.password": "wrong-password-99"})})
        status, body = await api.call("gateways/email/check", hash=h,
                                      json={"gateway_id": created["id"]})
    assert (status, body["passed"]) == (200, False)
    assert stages(body)[-2:] == [("tls", "pass", 220), ("auth", "fail", 535)]
    assert body["stages"][-1]["error"] == "the server refused the login (reply code 535)"
    assert "wrong-password-99" not in str(body)


async def test_a_leased_gateway_shows_results_and_codes_only(api: Api) -> None:
    with smtp_server(starttls=True, auth=True, auth_after_tls=True) as server:
        hp = await dealer(api, "parent")
        relay_id = (await api.ok("gateways/email/create", hash=hp, json={
            "gateway": relay(server.port, leasable=True,
                             **{"mail.smtp.password": "wrong-password-99"})}))["id"]
        hc = await dealer(api, "child", parent="parent")
        status, body = await api.call("gateways/email/check", hash=hc,
                                      json={"gateway_id": relay_id})
    assert (status, body) == (200, {"success": True, "passed": False, "stages": [
        {"stage": "connect", "result": "pass", "code": 220},
        {"stage": "ehlo", "result": "pass", "code": 250},
        {"stage": "tls", "result": "pass", "code": 220},
        {"stage": "auth", "result": "fail", "code": 535}]})


async def test_checks_count_with_test_sends(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(test_sends_per_minute=2), db)
    h = await dealer(api)
    with smtp_server() as server:
        created = await api.ok("gateways/email/create", hash=h, json={"gateway": relay(
            server.port, **{"mail.smtp.auth": False, "mail.smtp.starttls.enable": False})})
        check = {"gateway_id": created["id"]}
        assert (await api.ok("gateways/email/check", hash=h, json=check))["passed"] is True
        assert (await api.call("gateways/email/send_email", hash=h, json={
            "to": "ops@example.org", **check}))[0] == 200
        assert await api.call("gateways/email/check", hash=h, json=check) == (429, {
            "success": False, "status": {
                "code": 15, "description": "Too many requests (rate limit exceeded)"}})
    assert len(server.messages) == 1


async def test_webitel_check(api: Api) -> None:
    handler = Envelopes()
    await api.dealer("d1", domain="d1.example")
    with aiosmtpd_server(handler=handler) as server:
        webitel = Webitel(api)
        auth = await webitel_login(api, "d1")
        params = relay(server.port)["params"]
        document = {"provider": "smtp", "description": "Relay", "from": "relay@d1.example",
                    "options": {"host": "127.0.0.1", "port": params["mail.smtp.port"],
                                "secure": False, "debug": False,
                                "tls": {"rejectUnauthorized": False}, "auth": None}}
        assert (await webitel.call("POST", auth=auth, domain="d1.example", json=document))[0] == 200
        status, body = await webitel.call("POST", "/api/v2/email/settings/check", auth=auth,
                                          domain="d1.example", json={"to": "ops@example.org"})
    assert (status, body["status"], body["info"]["passed"]) == (200, "OK", True)
    assert stages(body["info"]) == [("connect", "pass", 220), ("ehlo", "pass", 250),
                                    ("mail_from", "pass", 250), ("rcpt_to", "pass", 250),
                                    ("rset", "pass", 250)]
    assert handler.seen == ["MAIL relay@d1.example", "RCPT ops@example.org"]
    assert server.messages == []

"""send_email against real aiosmtpd servers: every SMTP param has its effect."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.support.api import Api, send_email
from tests.support.smtp import PASSWORD, USER, silent_server, smtp_server


async def setup(api: Api, **params: Any) -> tuple[str, int]:
    """A dealer with a sender identity and one gateway created over the API."""
    await api.dealer("d1")
    h = await api.login("d1")
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "fleet@d1.example", "email_footer": "Fleet d1 footer"})
    gateway = {"label": "relay", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": "127.0.0.1", **params}}
    created = await api.ok("gateways/email/create", hash=h, json={"gateway": gateway})
    return h, created["id"]


def failure(status: int, body: dict[str, Any]) -> str:
    assert (status, body["success"], body["status"]["code"]) == (400, False, 209), body
    return str(body["status"]["description"])


async def test_plain_delivery_with_envelope_headers_and_footer(api: Api) -> None:
    with smtp_server() as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "default_from_address": "noreply@relay.example"})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    [received] = server.messages
    assert received.mail_from == "noreply@relay.example"  # the gateway's address wins
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.message["From"] == "noreply@relay.example"
    assert received.message["To"] == "ops@example.org"
    assert received.message["Subject"] == "Test message from navixy-panel"
    assert received.message["Message-ID"].endswith("@relay.example>")
    assert received.message.get_payload().rstrip().endswith("Fleet d1 footer")
    assert received.tls is False


async def test_sender_falls_back_to_the_dealers_email_from(api: Api) -> None:
    with smtp_server() as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port})
        await api.bind(1, gateway_id)
        assert await send_email(api, h) == (200, {"success": True})  # the bound gateway
    assert server.messages[0].mail_from == "fleet@d1.example"
    assert server.messages[0].message["From"] == "fleet@d1.example"


async def test_starttls_when_enabled_and_offered(api: Api) -> None:
    with smtp_server(starttls=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.starttls.enable": True,
                                            "mail.smtp.ssl.trust_all_hosts": True})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    assert server.messages[0].tls is True


async def test_starttls_then_auth_greets_again(api: Api) -> None:
    """A submission port offers AUTH only in the EHLO after STARTTLS (RFC 3207);
    tests/mail/test_postfix_relay.py proves the same against Postfix."""
    with smtp_server(starttls=True, auth=True, auth_after_tls=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.starttls.enable": True,
                                            "mail.smtp.ssl.trust_all_hosts": True,
                                            "mail.smtp.auth": True, "mail.smtp.user": USER,
                                            "mail.smtp.password": PASSWORD})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    [received] = server.messages
    assert received.tls is True


async def test_starttls_verifies_the_certificate(api: Api) -> None:
    with smtp_server(starttls=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.starttls.enable": True})
        description = failure(*await send_email(api, h, gateway_id))
    assert "certificate verify failed" in description
    assert server.messages == []


async def test_no_starttls_when_not_enabled(api: Api) -> None:
    with smtp_server(starttls=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    assert server.messages[0].tls is False


async def test_starttls_required_but_not_offered(api: Api) -> None:
    with smtp_server() as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.starttls.enable": True,
                                            "mail.smtp.starttls.required": True})
        assert failure(*await send_email(api, h, gateway_id)) == (
            "Failed sending email: the server does not offer STARTTLS, which "
            "mail.smtp.starttls.required demands")
    assert server.messages == []


async def test_implicit_tls_on_ssl_port(api: Api) -> None:
    with smtp_server(implicit_tls=True) as server:
        # `port` points nowhere: with use_ssl only ssl.port is used.
        h, gateway_id = await setup(api, **{"mail.smtp.port": 1, "mail.smtp.use_ssl": True,
                                            "mail.smtp.ssl.port": server.port})
        description = failure(*await send_email(api, h, gateway_id))
        assert "certificate verify failed" in description
        gateway = (await api.ok("gateways/email/list", hash=h))["own"][0]
        gateway["params"]["mail.smtp.ssl.trust_all_hosts"] = True
        await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    [received] = server.messages
    assert received.tls is True


async def test_auth_accepted(api: Api) -> None:
    with smtp_server(auth=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.auth": True, "mail.smtp.user": USER,
                                            "mail.smtp.password": PASSWORD})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    assert len(server.messages) == 1


async def test_auth_refused_carries_the_535_code_only(api: Api) -> None:
    """A reply to AUTH is told by its code: servers echo the AUTH line (base64 of user
    and password) in its text."""
    with smtp_server(auth=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.auth": True, "mail.smtp.user": USER,
                                            "mail.smtp.password": "wrong-password-99"})
        status, body = await send_email(api, h, gateway_id)
    assert body == {"success": False, "status": {
        "code": 209,
        "description": "Failed sending email: the server refused the login (reply code 535)"}}
    assert status == 400
    assert server.messages == []


async def test_no_auth_means_no_login(api: Api) -> None:
    """A server that demands AUTH refuses the message when auth is off."""
    with smtp_server(auth=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port})
        description = failure(*await send_email(api, h, gateway_id))
    assert description.startswith("Failed sending email: the server replied 530")


async def test_silent_server_fails_within_the_connect_timeout(api: Api) -> None:
    with silent_server() as port:
        h, gateway_id = await setup(api, **{"mail.smtp.port": port,
                                            "mail.smtp.connectiontimeout": 500})
        started = time.monotonic()
        description = failure(*await send_email(api, h, gateway_id))
        elapsed = time.monotonic() - started
    assert description == f"Failed sending email: 127.0.0.1:{port} did not answer in time"
    assert 0.4 < elapsed < 2.5


async def test_connection_refused(api: Api) -> None:
    with smtp_server() as server:
        port = server.port
    h, gateway_id = await setup(api, **{"mail.smtp.port": port})
    assert "Failed sending email: " in failure(*await send_email(api, h, gateway_id))


async def test_debug_logs_the_dialogue_without_credentials(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with smtp_server(auth=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port, "mail.debug": True,
                                            "mail.smtp.auth": True, "mail.smtp.user": USER,
                                            "mail.smtp.password": PASSWORD})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
    dialogue = [r.getMessage() for r in caplog.records if r.name == "navixy_panel.mail.mailer"]
    assert any("AUTH *** 235" in line for line in dialogue), dialogue
    assert any("DATA" in line for line in dialogue), dialogue
    assert PASSWORD not in caplog.text


async def test_no_gateway_bound_and_none_given(api: Api) -> None:
    h, _ = await setup(api, **{"mail.smtp.port": 25})
    assert await api.error("gateways/email/send_email", 7, 400, hash=h,
                           json={"to": "ops@example.org"}) == {
        "success": False, "status": {"code": 7, "description": "Invalid parameters"},
        "errors": [{"parameter": "gateway_id",
                    "error": "No gateway is bound; give a gateway id."}]}


async def test_no_sender_address(api: Api) -> None:
    dealer = await api.dealer("d1")
    gateway_id = await api.gateway(dealer)
    h = await api.login("d1")
    body = await api.error("gateways/email/send_email", 7, 400, hash=h,
                           json={"to": "ops@example.org", "gateway_id": gateway_id})
    assert body["errors"] == [{"parameter": "email_from", "error": (
        "No sender address: set the gateway's default_from_address or the dealer's "
        "email_from.")}]


async def test_sends_are_rate_limited_per_dealer(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(test_sends_per_minute=2), db)
    with smtp_server() as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
        assert await send_email(api, h, gateway_id) == (200, {"success": True})
        assert await send_email(api, h, gateway_id) == (429, {"success": False, "status": {
            "code": 15, "description": "Too many requests (rate limit exceeded)"}})
    assert len(server.messages) == 2


async def test_child_sends_through_its_parents_leasable_relay(api: Api) -> None:
    with smtp_server(auth=True) as server:
        await api.dealer("parent")
        hp = await api.login("parent")
        relay = {"label": "relay", "provider": "smtp", "leasable": True,
                 "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": server.port,
                            "mail.smtp.auth": True, "mail.smtp.user": USER,
                            "mail.smtp.password": PASSWORD}}
        relay_id = (await api.ok("gateways/email/create", hash=hp, json={"gateway": relay}))["id"]
        await api.dealer("child", parent="parent")
        hc = await api.login("child")
        await api.ok("dealer/settings/notification/email/update", hash=hc,
                     json={"email_from": "child@child.example"})
        await api.ok("gateways/email/bind", hash=hc, json={"gateway_id": relay_id})
        assert await send_email(api, hc) == (200, {"success": True})
    assert server.messages[0].mail_from == "child@child.example"


async def test_a_starttls_session_then_another_at_once(api: Api) -> None:
    """A TLS transport closes asynchronously (close_notify): the next connection, made
    while it does, must not be handed a descriptor the loop still maps to it."""
    with smtp_server(starttls=True) as server:
        h, gateway_id = await setup(api, **{"mail.smtp.port": server.port,
                                            "mail.smtp.starttls.enable": True,
                                            "mail.smtp.ssl.trust_all_hosts": True})
        for _ in range(3):
            assert await send_email(api, h, gateway_id) == (200, {"success": True})
    assert len(server.messages) == 3

"""What a failed send tells the caller: for an own gateway the reply code and
text or the kind of failure, in the service's own words; through a gateway leased
from the parent only the kind and the reply code; never a non-SMTP peer's banner,
never the text of a reply to AUTH (servers echo the AUTH line, credentials in
base64, in it)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from navixy_panel.security.secret_box import SecretBox
from navixy_panel.settings import Settings
from tests.support.api import Api
from tests.support.smtp import (
    PASSWORD,
    SSH_BANNER,
    USER,
    Recorder,
    aiosmtpd_server,
    scripted_peer,
    silent_server,
    smtp_server,
    talking_peer,
)
from tests.support.webitel import DOMAIN, SETTINGS, webitel_login

# What the echoing server puts in its 535: the AUTH PLAIN line as the client sent it.
AUTH_PLAIN_LINE = base64.b64encode(f"\0{USER}\0{PASSWORD}-wrong".encode()).decode()
INTERNAL_NAME = "relay-int-03.corp.example"

BANNERS = {
    "ssh": SSH_BANNER,
    "mysql": b"J\x00\x00\x00\n8.0.36\x00internal-db-07\x00\x00mysql_native_password\x00\n",
    "http": b"HTTP/1.1 400 Bad Request\r\nServer: internal-proxy-07\r\n\r\n",
}


def echoing_authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
    """Refuses every login quoting what the client sent, as some servers do."""
    assert isinstance(auth_data, LoginPassword)
    line = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
    return AuthResult(success=False, handled=False,
                      message=f"535 5.7.8 Authentication failed for AUTH PLAIN {line}")


class RefusingRecipients(Recorder):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        return f"550 5.1.1 <{address}>: unknown user at {INTERNAL_NAME} (10.20.30.40)"


async def own_gateway(api: Api, **params: Any) -> tuple[str, tuple[str, str], int]:
    """d1 with its own bound gateway, created over the API; (hash, Webitel keys, id)."""
    await api.dealer("d1", domain=DOMAIN)
    h = await api.login("d1")
    body = {"label": "relay", "provider": "smtp", "leasable": False,
            "params": {"mail.smtp.host": "127.0.0.1",
                       "default_from_address": "relay@d1.example", **params}}
    gateway_id = (await api.ok("gateways/email/create", hash=h, json={"gateway": body}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    return h, await webitel_login(api, "d1"), gateway_id


async def sends(api: Api, h: str, keys: tuple[str, str]) -> tuple[Any, Any]:
    """The Navixy answer and the Webitel answer for a test send through the bound gateway."""
    navixy = await api.call("gateways/email/send_email", hash=h, json={"to": "ops@example.org"})
    response = await api.client.post(f"{SETTINGS}/test/ops@example.org",
                                     headers={"X-Key": keys[0], "X-Access-Token": keys[1]})
    return navixy, (response.status, await response.json())


def navixy_failure(description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"success": False, "status": {"code": 209, "description": description}}


@pytest.mark.parametrize("peer", list(BANNERS))
async def test_a_peer_that_does_not_speak_smtp_is_named_so_without_its_banner(
        api: Api, peer: str) -> None:
    with scripted_peer(BANNERS[peer]) as port:
        h, keys, _ = await own_gateway(api, **{"mail.smtp.port": port,
                                               "mail.smtp.connectiontimeout": 3000})
        navixy, webitel = await sends(api, h, keys)
    text = f"Failed sending email: 127.0.0.1:{port} is not an SMTP server"
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text})


async def test_a_reply_to_auth_is_reported_by_its_code_only(api: Api) -> None:
    with aiosmtpd_server(authenticator=echoing_authenticator) as server:
        h, keys, _ = await own_gateway(api, **{
            "mail.smtp.port": server.port, "mail.smtp.auth": True, "mail.smtp.user": USER,
            "mail.smtp.password": f"{PASSWORD}-wrong"})
        navixy, webitel = await sends(api, h, keys)
    text = "Failed sending email: the server refused the login (reply code 535)"
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text, "code": 535})
    assert AUTH_PLAIN_LINE not in str(navixy) + str(webitel)
    assert server.messages == []


async def test_an_own_gateway_gets_the_reply_code_and_text(api: Api) -> None:
    with aiosmtpd_server(handler=RefusingRecipients()) as server:
        h, keys, _ = await own_gateway(api, **{"mail.smtp.port": server.port})
        navixy, webitel = await sends(api, h, keys)
    text = (f"Failed sending email: the server replied 550 5.1.1 <ops@example.org>: unknown "
            f"user at {INTERNAL_NAME} (10.20.30.40)")
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text, "code": 550})


async def test_a_refused_connection_is_told_in_the_services_words(api: Api) -> None:
    with smtp_server() as gone:
        port = gone.port
    h, keys, _ = await own_gateway(api, **{"mail.smtp.port": port})
    navixy, webitel = await sends(api, h, keys)
    # Not aiosmtplib's "Error connecting to 127.0.0.1 on port …: [Errno 111] Connect call …"
    text = f"Failed sending email: 127.0.0.1:{port} refused the connection"
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text})


async def leased_relay(api: Api, **params: Any) -> tuple[str, int]:
    """The parent's leasable relay at 127.0.0.1 with AUTH, and a child's session."""
    await api.dealer("parent")
    hp = await api.login("parent")
    relay = {"label": "relay", "provider": "smtp", "leasable": True,
             "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.auth": True,
                        "mail.smtp.user": USER, "mail.smtp.password": f"{PASSWORD}-wrong",
                        "default_from_address": "no-reply@parent.example", **params}}
    relay_id = (await api.ok("gateways/email/create", hash=hp, json={"gateway": relay}))["id"]
    await api.dealer("child", parent="parent")
    return await api.login("child"), relay_id


@pytest.mark.parametrize(("case", "told"), [
    ("auth-echo", "the server refused the login (reply code 535)"),
    ("recipient-refused", "the server refused the message (reply code 550)"),
    ("not-smtp", "the peer is not an SMTP server"),
    ("closed-port", "the server could not be reached"),
    ("silent", "the server did not answer in time"),
])
async def test_a_leased_relays_failure_tells_only_its_kind_and_reply_code(
        api: Api, case: str, told: str) -> None:
    with aiosmtpd_server(authenticator=echoing_authenticator) as echo, \
            aiosmtpd_server(handler=RefusingRecipients()) as refusing, \
            scripted_peer(SSH_BANNER) as ssh, silent_server() as silent:
        with smtp_server() as gone:
            closed = gone.port
        port = {"auth-echo": echo.port, "recipient-refused": refusing.port, "not-smtp": ssh,
                "closed-port": closed, "silent": silent}[case]
        auth = {} if case != "recipient-refused" else {"mail.smtp.auth": False}
        hc, relay_id = await leased_relay(api, **{"mail.smtp.port": port,
                                                  "mail.smtp.connectiontimeout": 500, **auth})
        status, body = await api.call("gateways/email/send_email", hash=hc,
                                      json={"to": "ops@example.org", "gateway_id": relay_id})
    assert (status, body) == navixy_failure(f"Failed sending email: {told}")
    for private in ("127.0.0.1", str(port), USER, INTERNAL_NAME, "10.20.30.40", "SSH",
                    "internal-db", AUTH_PLAIN_LINE):
        assert private not in body["status"]["description"]


# -- no credentials over a stripped STARTTLS ----------------------------------------

LOGIN_OVER_STARTTLS = {"mail.smtp.starttls.enable": True, "mail.smtp.auth": True,
                       "mail.smtp.user": USER, "mail.smtp.password": PASSWORD,
                       "mail.smtp.ssl.trust_all_hosts": True}
STRIPPED = ("Failed sending email: the server does not offer STARTTLS, and the login is "
            "never sent without it (mail.smtp.starttls.enable)")


@pytest.mark.parametrize("required", [False, True])
async def test_a_server_without_starttls_gets_no_login_and_no_message(
        api: Api, required: bool) -> None:
    """What an on-path attacker who strips STARTTLS from the EHLO reply sees: nothing
    after EHLO, whatever starttls.required says (both faces)."""
    with talking_peer() as (port, dialogue):
        h, keys, _ = await own_gateway(api, **LOGIN_OVER_STARTTLS, **{
            "mail.smtp.port": port, "mail.smtp.starttls.required": required})
        navixy, webitel = await sends(api, h, keys)
    assert navixy == navixy_failure(STRIPPED)
    assert webitel == (502, {"status": "error", "info": STRIPPED})
    assert set(dialogue.commands()) <= {"EHLO", "QUIT"}, dialogue.lines
    assert "EHLO" in dialogue.commands()


@pytest.mark.parametrize(("reply", "description", "code"), [
    ("454 4.7.0 TLS not available due to local problem",
     "Failed sending email: the server refused STARTTLS (reply code 454)", 454),
    ("220 2.0.0 Ready to start TLS",  # then closes instead of the handshake
     "Failed sending email: the TLS upgrade with 127.0.0.1:{port} failed "
     "(the connection was lost)", None),
])
async def test_a_failed_upgrade_gets_no_login_and_no_message(
        api: Api, reply: str, description: str, code: int | None) -> None:
    with talking_peer(starttls_reply=reply) as (port, dialogue):
        h, keys, _ = await own_gateway(api, **LOGIN_OVER_STARTTLS, **{"mail.smtp.port": port})
        navixy, webitel = await sends(api, h, keys)
    text = description.format(port=port)
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text,
                             **({"code": code} if code is not None else {})})
    assert set(dialogue.commands()) <= {"EHLO", "STARTTLS", "QUIT"}, dialogue.lines


async def test_without_a_login_a_missing_starttls_still_sends(api: Api) -> None:
    """No credential at stake: STARTTLS when offered, as JavaMail does."""
    with talking_peer() as (port, dialogue):
        h, keys, _ = await own_gateway(api, **{"mail.smtp.port": port,
                                               "mail.smtp.starttls.enable": True})
        navixy, webitel = await sends(api, h, keys)
    assert navixy == (200, {"success": True})
    assert webitel[0] == 200, webitel
    assert "AUTH" not in dialogue.commands()
    assert dialogue.commands().count("DATA") == 2


async def test_a_leased_gateways_stripped_starttls_is_told_by_kind(
        api: Api, settings: Settings) -> None:
    """Through the parent's relay only the kind of failure reaches the sub-dealer."""
    with talking_peer() as (port, dialogue):
        parent = await api.dealer("parent")
        gateway_id = await api.gateway(parent, leasable=True,
                                       box=SecretBox(list(settings.secret_keys)),
                                       **LOGIN_OVER_STARTTLS,
                                       **{"mail.smtp.host": "127.0.0.1",
                                          "mail.smtp.port": port,
                                          "default_from_address": "relay@parent.example"})
        child = await api.dealer("child", parent="parent")
        await api.bind(child, gateway_id)
        h = await api.login("child")
        navixy = await api.call("gateways/email/send_email", hash=h,
                                json={"to": "ops@example.org"})
    assert navixy == navixy_failure("Failed sending email: the TLS connection failed")
    assert "AUTH" not in dialogue.commands()


# -- credentials scrubbed from every reply text --------------------------------------

def echo_of_auth(seen: list[str]) -> str:
    """What the client said from its AUTH line to its MAIL FROM, as some servers quote
    it, with the credentials in plain words too."""
    start = next(i for i, line in enumerate(seen) if line.upper().startswith("AUTH"))
    end = next(i for i, line in enumerate(seen) if line.upper().startswith("MAIL"))
    return (" | ".join(seen[start:end])
            + f" (user {USER}, password {PASSWORD})")


@pytest.mark.parametrize(("mechanism", "scrubbed"), [
    ("PLAIN", "AUTH PLAIN *** (user ***, password ***)"),
    ("LOGIN", "AUTH LOGIN *** | *** (user ***, password ***)"),
])
async def test_an_auth_line_echoed_in_a_refusal_is_scrubbed(
        api: Api, mechanism: str, scrubbed: str) -> None:
    with talking_peer(auth=mechanism,
                      mail_reply=lambda seen: f"550 5.7.1 Refused; you said: "
                                              f"{echo_of_auth(seen)}") as (port, dialogue):
        h, keys, _ = await own_gateway(api, **{
            "mail.smtp.port": port, "mail.smtp.auth": True, "mail.smtp.user": USER,
            "mail.smtp.password": PASSWORD})
        navixy, webitel = await sends(api, h, keys)
    assert any(line.startswith(f"AUTH {mechanism}") for line in dialogue.lines)
    text = f"Failed sending email: the server replied 550 5.7.1 Refused; you said: {scrubbed}"
    assert navixy == navixy_failure(text)
    assert webitel == (502, {"status": "error", "info": text, "code": 550})


@pytest.mark.parametrize(("mechanism", "scrubbed"), [
    ("PLAIN", "AUTH PLAIN *** (user ***, password ***)"),
    ("LOGIN", "AUTH LOGIN *** | *** (user ***, password ***)"),
])
async def test_an_auth_line_echoed_in_the_final_reply_is_scrubbed(
        api: Api, mechanism: str, scrubbed: str) -> None:
    """Webitel's answer quotes the server's last reply: scrubbed just the same."""
    with talking_peer(auth=mechanism,
                      data_reply=lambda seen: f"250 2.0.0 Queued; you said: "
                                              f"{echo_of_auth(seen)}") as (port, _):
        h, keys, _ = await own_gateway(api, **{
            "mail.smtp.port": port, "mail.smtp.auth": True, "mail.smtp.user": USER,
            "mail.smtp.password": PASSWORD})
        navixy, (status, body) = await sends(api, h, keys)
    assert navixy == (200, {"success": True})
    assert status == 200
    assert body["info"]["response"] == f"250 2.0.0 Queued; you said: {scrubbed}"

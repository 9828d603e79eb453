"""Sender and recipient addresses, from the API to the SMTP envelope and headers.

`email_from` may carry a display name; the bare address is
the envelope sender (MAIL FROM), the From header keeps the name (RFC 2047-encoded
when it is not ASCII). `default_from_address` is a bare address. No address may
hold a control character: a quoted `"\\x0b"@…` passes marshmallow's Email check and
used to be saved, then failed the send with a 500.
"""

from __future__ import annotations

import json
from email.header import decode_header, make_header
from typing import Any

from tests.support.api import PASSWORD, Api
from tests.support.smtp import smtp_server

CONTROL = "Must not contain control characters."
VERTICAL_TAB_ADDRESS = '"\x0b"@relay.example'


async def dealer_with_gateway(api: Api, port: int, **params: Any) -> tuple[str, int]:
    await api.dealer("d1", domain="d1.example")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp",
               "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port, **params}}
    gateway_id = (await api.ok("gateways/email/create", hash=h, json={"gateway": gateway}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    return h, gateway_id


def decoded(header: str) -> str:
    return str(make_header(decode_header(header)))


async def test_display_name_in_the_header_bare_address_in_mail_from(api: Api) -> None:
    with smtp_server() as server:
        h, _ = await dealer_with_gateway(api, server.port)
        await api.ok("dealer/settings/notification/update", hash=h, form={
            "email_from": "Navixy <no-reply@d1.example>", "email_footer": "",
            "sms_originator": "", "caller_id": ""})
        await api.ok("gateways/email/send_email", hash=h, form={"to": "ops@example.org"})
        await api.ok("dealer/settings/notification/email/update", hash=h,
                     form={"email_from": "Flotte Müller Ωmega <fleet@d1.example>"})
        await api.ok("gateways/email/send_email", hash=h, form={"to": "ops@example.org"})
    ascii_name, utf8_name = server.messages
    assert ascii_name.mail_from == "no-reply@d1.example"
    assert ascii_name.message["From"] == "Navixy <no-reply@d1.example>"
    assert ascii_name.message["Message-ID"].endswith("@d1.example>")
    assert utf8_name.mail_from == "fleet@d1.example"
    raw = utf8_name.message["From"]  # as it went over the wire
    assert raw.isascii() and "=?utf-8?" in raw.lower()
    assert decoded(raw) == "Flotte Müller Ωmega <fleet@d1.example>"


async def test_a_quoted_name_with_specials(api: Api) -> None:
    with smtp_server() as server:
        h, _ = await dealer_with_gateway(api, server.port)
        await api.ok("dealer/settings/notification/email/update", hash=h,
                     form={"email_from": '"Navixy, Inc." <no-reply@d1.example>'})
        await api.ok("gateways/email/send_email", hash=h, form={"to": "ops@example.org"})
    [received] = server.messages
    assert received.mail_from == "no-reply@d1.example"
    assert received.message["From"] == '"Navixy, Inc." <no-reply@d1.example>'


async def test_control_character_in_default_from_address_refused_at_create(api: Api) -> None:
    await api.dealer("d1", domain="d1.example")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp",
               "params": {"mail.smtp.host": "smtp.example.org",
                          "default_from_address": VERTICAL_TAB_ADDRESS}}
    body = await api.error("gateways/email/create", 7, 400, hash=h,
                           form={"gateway": json.dumps(gateway)})
    assert body["errors"] == [{"parameter": "gateway.params.default_from_address",
                               "error": CONTROL}]
    # Webitel's face, same rule, its own field name.
    login = await (await api.client.post("/login", json={"username": "d1",
                                                         "password": PASSWORD})).json()
    response = await api.client.post("/api/v2/email/settings", headers={
        "X-Key": login["key"], "X-Access-Token": login["token"]}, json={
        "provider": "smtp", "from": VERTICAL_TAB_ADDRESS,
        "options": {"host": "smtp.example.org", "port": 25, "secure": False}})
    assert (response.status, await response.json()) == (
        400, {"status": "error", "info": f"from: {CONTROL}"})
    assert await api.sql("SELECT id FROM email_gateways") == []


async def test_default_from_address_is_a_bare_address(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp",
               "params": {"mail.smtp.host": "smtp.example.org",
                          "default_from_address": "Relay <no-reply@relay.example>"}}
    body = await api.error("gateways/email/create", 7, 400, hash=h, json={"gateway": gateway})
    assert body["errors"] == [{
        "parameter": "gateway.params.default_from_address",
        "error": "Must be a bare address such as name@example.com, without a display name."}]


async def test_control_character_in_to_is_refused_and_nothing_sent(api: Api) -> None:
    with smtp_server() as server:
        h, _ = await dealer_with_gateway(api, server.port,
                                         default_from_address="no-reply@relay.example")
        body = await api.error("gateways/email/send_email", 7, 400, hash=h,
                               form={"to": '"\x0b"@example.org'})
    assert body["errors"] == [{"parameter": "to", "error": CONTROL}]
    assert server.messages == []


async def test_a_stored_unusable_sender_is_refused_not_a_500(api: Api) -> None:
    """Saved before addresses were checked as they are now."""
    with smtp_server() as server:
        h, gateway_id = await dealer_with_gateway(api, server.port)
        await api.sql("UPDATE email_gateways SET params = jsonb_set(params, "
                      "'{default_from_address}', to_jsonb(CAST(:sender AS text))) "
                      "WHERE id = :id", sender=VERTICAL_TAB_ADDRESS, id=gateway_id)
        body = await api.error("gateways/email/send_email", 7, 400, hash=h,
                               form={"to": "ops@example.org"})
    assert body["errors"] == [{"parameter": "email_from", "error": (
        f"{CONTROL} Correct the gateway's default_from_address or the dealer's email_from.")}]
    assert server.messages == []

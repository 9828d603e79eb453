"""Every outcome of a delivery through a real SMTP server (aiosmtpd, scripted peers):
what the message's status, attempts and recipients say afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.delivery import dealer_on_relay, new_key, submit, wait_for
from tests.support.net import free_port
from tests.support.smtp import Recorder, aiosmtpd_server, silent_server, smtp_server


@dataclass
class Scripted(Recorder):
    """Refuses what it is told to: a recipient, MAIL FROM, or the first DATA with 4xx."""

    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    refuse_mail: str | None = None
    defer_data: int = 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.defer_data > 0:
            self.defer_data -= 1
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


async def test_sent(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    with smtp_server() as relay:
        dealer_id, gateway_id = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        found = await wait_for(client, key, accepted["id"])
    assert found["status"] == "sent" and found["reason"] is None
    assert found["recipients"] == [{"address": "customer@example.com", "status": "sent",
                                    "reply_code": 250}]
    (attempt,) = found["attempts"]
    assert attempt["stage"] == "data" and attempt["reply_code"] == 250
    assert attempt["reply_text"] == "2.0.0 OK queued as test-1"
    assert attempt["gateway_id"] == gateway_id and found["gateway_id"] == gateway_id
    (received,) = relay.messages
    assert received.mail_from == "alerts@dealer.example"
    assert received.rcpt_tos == ["customer@example.com"]
    assert received.message["From"] == "Fleet <alerts@dealer.example>"


async def test_deferred_then_sent_with_one_message_id(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    handler = Scripted(defer_data=2)
    with aiosmtpd_server(handler=handler) as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        found = await wait_for(client, key, accepted["id"])
        assert found["status"] == "sent"
        assert [a["reply_code"] for a in found["attempts"]] == [451, 451, 250]
        assert [a["stage"] for a in found["attempts"]] == ["data", "data", "data"]
        (received,) = relay.messages
    message_id = received.message["Message-ID"]
    assert message_id.endswith("@navixy-panel>")
    stored = await api.sql("SELECT message_id FROM mail_messages")
    assert stored[0].message_id == message_id


async def test_one_recipient_of_three_refused(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    handler = Scripted(refuse_rcpt={"b@example.com": "550 5.1.1 no such user"})
    with aiosmtpd_server(handler=handler) as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key, to=["a@example.com", "b@example.com",
                                                     "c@example.com"])
        found = await wait_for(client, key, accepted["id"])
        assert relay.messages[0].rcpt_tos == ["a@example.com", "c@example.com"]
    assert found["status"] == "partly_sent" and found["reason"] == "rejected"
    assert found["recipients"] == [
        {"address": "a@example.com", "status": "sent", "reply_code": 250},
        {"address": "b@example.com", "status": "failed", "reply_code": 550},
        {"address": "c@example.com", "status": "sent", "reply_code": 250}]


async def test_mail_from_refused_fails_the_message(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    handler = Scripted(refuse_mail="553 5.7.1 sender not allowed")
    with aiosmtpd_server(handler=handler) as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        found = await wait_for(client, key, accepted["id"])
        assert relay.messages == []
    assert (found["status"], found["reason"]) == ("failed", "rejected")
    (attempt,) = found["attempts"]
    assert (attempt["stage"], attempt["reply_code"]) == ("mail_from", 553)
    assert found["recipients"][0]["status"] == "failed"


@pytest.mark.parametrize("server", ["refused", "silent", "tls"])
async def test_connection_failures_defer(deliverer, server) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    params: dict[str, Any] = {}
    if server == "refused":
        port = free_port()
        stack: Any = None
    elif server == "silent":
        stack = silent_server()
        port = stack.__enter__()
    else:  # STARTTLS with a certificate nobody trusts
        stack = smtp_server(starttls=True)
        port = stack.__enter__().port
        params = {"mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True}
    try:
        dealer_id, _ = await dealer_on_relay(api, "dealer", port, **params)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key)
        found = await wait_for(client, key, accepted["id"], statuses=("deferred",))
    finally:
        if stack is not None:
            stack.__exit__(None, None, None)
    kind = {"refused": "connection", "silent": "timeout", "tls": "tls"}[server]
    assert found["attempts"][0]["kind"] == kind
    assert found["recipients"][0]["status"] == "pending"
    assert found["finished"] is None


async def test_expiry(make_client, api: Api) -> None:
    client = await make_client(deliver=True, delivery_retry_base_seconds=0.2,
                               delivery_max_age_seconds=1)
    api.client = client
    dealer_id, _ = await dealer_on_relay(api, "dealer", free_port())
    key = await new_key(client, dealer_id)
    _, accepted = await submit(client, key)
    found = await wait_for(client, key, accepted["id"])
    assert (found["status"], found["reason"]) == ("expired", "expired")
    assert found["recipients"][0]["status"] == "failed"


async def test_sender_footer_and_reply_to_in_the_bytes(deliverer) -> None:  # type: ignore[no-untyped-def]
    client, api = deliverer
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        await api.sql("UPDATE dealers SET email_footer = :footer WHERE id = :id",
                      footer="-- Dealer & Co, +1 555 0100", id=dealer_id)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key, **{"from": "ops@platform.example",
                                                   "html": "<b>Alarm</b>"})
        await wait_for(client, key, accepted["id"])
        (received,) = relay.messages
    message = message_from_bytes(received.message.as_bytes())
    assert message["From"] == "Fleet <alerts@dealer.example>"
    assert message["Reply-To"] == "ops@platform.example"
    text, html = (part.get_payload(decode=True).decode() for part in message.walk()
                  if part.get_content_type() in ("text/plain", "text/html"))
    assert text.rstrip().endswith("-- Dealer & Co, +1 555 0100")
    assert html.rstrip().endswith("<p>-- Dealer &amp; Co, +1 555 0100</p>")


async def test_long_lines_and_non_ascii_arrive_intact(deliverer) -> None:  # type: ignore[no-untyped-def]
    """SMTP refuses lines over 998 characters (aiosmtpd answers 500): such a text, or
    one that is not ASCII, goes as quoted-printable UTF-8 and decodes to what was sent."""
    client, api = deliverer
    text, html = "x" * 2000 + "\nÜber die Grenze: Fahrzeug 7", "<p>" + "y" * 1500 + "</p>"
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        _, accepted = await submit(client, key, text=text, html=html, subject="Grenze: Ü")
        found = await wait_for(client, key, accepted["id"])
        assert found["status"] == "sent", found
        (received,) = relay.messages
    # Line breaks in a MIME text are CRLF whatever was submitted.
    parts = {part.get_content_type():
             part.get_payload(decode=True).decode().replace("\r\n", "\n").rstrip("\n")
             for part in received.message.walk() if part.get_content_maintype() == "text"}
    assert parts == {"text/plain": text, "text/html": html}
    assert str(received.message["Subject"]).startswith("=?utf-8?")

"""Messages submitted over SMTP, delivered: what the dealer's gateway receives, and
real clients at volume (Postfix's smtp-source, swaks, aiosmtplib over parallel
sessions)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import trustme

from tests.support import submission as smtp
from tests.support.api import Api
from tests.support.delivery import dealer_on_relay, new_key
from tests.support.smtp import smtp_server


@pytest.fixture
async def delivering(make_client, api: Api):  # type: ignore[no-untyped-def]
    """A listener and delivery workers; submissions per key are not rate-limited."""
    client = await make_client(submission_port=0, deliver=True, key_rate_per_second=100_000)
    api.client = client
    return client, api, smtp.port(client)


async def wait_until_sent(api: Api, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = await api.sql("SELECT status, count(*) AS n FROM mail_messages GROUP BY status")
        found = {row.status: row.n for row in rows}
        if found.get("sent", 0) >= count:
            assert found == {"sent": count}
            return
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)


async def test_what_the_gateway_receives(delivering) -> None:  # type: ignore[no-untyped-def]
    """From is the dealer's identity, the submitter's From becomes Reply-To, the
    envelope recipients are the recipients (one in no header, as Bcc works), the
    routing header is gone and the footer ends the text."""
    client, api, port = delivering
    with smtp_server() as relay:
        root_id = await api.dealer("root")
        await dealer_on_relay(api, "sub", relay.port, parent="root")
        await api.sql("UPDATE dealers SET email_footer = 'Fleet Ltd, 1 Road' WHERE login = 'sub'")
        key = await new_key(client, root_id)
        raw = smtp.message(to="customer@example.com", X_Navixy_Dealer="sub")
        code, _ = await smtp.submit(port, "root", key, raw,
                                    to=("customer@example.com", "audit@example.com"))
        assert code == 250
        await wait_until_sent(api, 1)
        (received,) = relay.messages
    assert received.rcpt_tos == ["customer@example.com", "audit@example.com"]
    assert received.mail_from == "alerts@dealer.example"
    message = received.message
    assert message["From"] == "Fleet <alerts@dealer.example>"
    assert message["Reply-To"] == "Billing <billing@platform.example>"
    assert message["To"] == "customer@example.com" and message["Subject"] == "Alarm"
    assert message["X-Navixy-Dealer"] is None
    assert message.get_payload(decode=True).decode().replace("\r\n", "\n") == (
        "Vehicle 7 left the zone.\n\nFleet Ltd, 1 Road\n")


async def test_mail_from_is_reply_to_when_the_message_has_none(delivering) -> None:  # type: ignore[no-untyped-def]
    client, api, port = delivering
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        bare = b"Subject: Report\r\nTo: customer@example.com\r\n\r\nWeekly report.\r\n"
        assert (await smtp.submit(port, "dealer", key, bare,
                                  sender="reports@platform.example"))[0] == 250
        kept = smtp.message(Reply_To="desk@platform.example")
        assert (await smtp.submit(port, "dealer", key, kept))[0] == 250
        await wait_until_sent(api, 2)
        replies = sorted(str(each.message["Reply-To"]) for each in relay.messages)
    assert replies == ["desk@platform.example", "reports@platform.example"]


async def test_parallel_sessions_all_delivered(delivering) -> None:  # type: ignore[no-untyped-def]
    """aiosmtplib: 10 sessions at once, 30 messages each, every one delivered once."""
    client, api, port = delivering
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)

        async def session(number: int) -> list[int]:
            connection = await smtp.connect(port)
            await connection.login("dealer", key)
            codes = []
            for index in range(30):
                raw = smtp.message(subject=f"s{number}-m{index}")
                codes.append((await smtp.transaction(connection, raw))[0])
            await connection.quit()
            return codes

        results = await asyncio.gather(*(session(number) for number in range(10)))
        assert [code for codes in results for code in codes] == [250] * 300
        await wait_until_sent(api, 300)
        subjects = sorted(str(each.message["Subject"]) for each in relay.messages)
    assert subjects == sorted(f"s{n}-m{i}" for n in range(10) for i in range(30))


@pytest.mark.skipif(smtp.tool_missing("smtp-source", "postfix") is not None,
                    reason=str(smtp.tool_missing("smtp-source", "postfix")))
async def test_smtp_source_thousand_messages_over_ten_sessions(delivering) -> None:  # type: ignore[no-untyped-def]
    """Postfix's load generator, 1,000 messages over 10 sessions, all delivered.

    smtp-source has no AUTH, and the listener never accepts mail without it (no
    exception for loopback or tests: that would be an open relay by configuration).
    So it talks to `authenticating_forwarder`, which logs in with the dealer's key
    upstream the way a client configured with credentials does and then copies the
    session's bytes unchanged: the listener sees an ordinary authenticated client
    on each of the 10 connections."""
    client, api, port = delivering
    with smtp_server() as relay:
        dealer_id, _ = await dealer_on_relay(api, "dealer", relay.port)
        key = await new_key(client, dealer_id)
        async with smtp.authenticating_forwarder(port, "dealer", key) as forwarder:
            source = await asyncio.create_subprocess_exec(
                "smtp-source", "-s", "10", "-m", "1000", "-d", "-l", "2048",
                "-f", "app@platform.example", "-t", "customer@example.com",
                "-S", "Load", f"127.0.0.1:{forwarder}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output, _ = await asyncio.wait_for(source.communicate(), 120)
            assert source.returncode == 0, output.decode()
        assert smtp.listener(client).metrics.sessions == 10
        await wait_until_sent(api, 1000)
        assert len(relay.messages) == 1000
        assert {str(each.message["Subject"]) for each in relay.messages} == {"Load"}


@pytest.mark.skipif(smtp.tool_missing("swaks", "swaks") is not None,
                    reason=str(smtp.tool_missing("swaks", "swaks")))
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_swaks_starttls_and_auth(make_client, api: Api, tmp_path: Path,
                                       mechanism: str) -> None:
    """swaks as an operator tries the listener: STARTTLS verified against the
    operator's CA, then AUTH."""
    ca = trustme.CA()
    cert, key_file = smtp.certificate_files(tmp_path / "tls", ca, "localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client = await make_client(submission_port=0, submission_tls_cert=cert,
                               submission_tls_key=key_file)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    swaks = await asyncio.create_subprocess_exec(
        "swaks", "--server", "localhost", "--port", str(smtp.port(client)), "--tls",
        "--tls-verify", "--tls-ca-path", str(tmp_path / "ca.pem"), "--auth", mechanism,
        "--auth-user", "dealer", "--auth-password", key, "--from", "app@platform.example",
        "--to", "customer@example.com", "--header", "Subject: swaks test",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(swaks.communicate(), 60))[0].decode()
    assert swaks.returncode == 0, output
    assert "<~  235 2.7.0 Authentication successful" in output
    rows = await api.sql("SELECT id, subject FROM mail_messages")
    assert [row.subject for row in rows] == ["swaks test"]
    assert f"<~  250 2.0.0 OK queued as {rows[0].id}" in output

"""A delivery connection (`mailer.connect`) carries message after message over one
SMTP session: RSET between messages, the reply to each RCPT kept, a refusal of
MAIL FROM or DATA failing that message only, anything that leaves the session in
doubt ending it (`alive` False). It opens the way test sends do (STARTTLS, AUTH,
scrubbing), and every failure names its stage. Real aiosmtpd servers; the server
counts TCP connections by the client's address and port."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from navixy_panel.domain.errors import SendFailed, SendFailure
from navixy_panel.domain.smtp_params import DEFAULTS
from navixy_panel.mail import destinations, mailer
from navixy_panel.mail.mailer import Delivered, RecipientReply
from tests.support.smtp import (
    PASSWORD,
    USER,
    Recorder,
    aiosmtpd_server,
    server_context,
    silent_server,
    smtp_server,
)

RULES = destinations.policy(("127.0.0.0/8",))
SENDER = "relay@d1.example"
AUTH_PLAIN_LINE = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
QUEUED = "2.0.0 OK queued"


@dataclass
class Scripted(Recorder):
    """Logs each command with the connection it came on; refuses recipients at
    refused.example; answers MAIL FROM or DATA as told, waits, or hangs up."""

    mail_reply: str | None = None
    data_reply: str | None = None
    echo: str = ""  # appended to the replies to RCPT and DATA
    delay: float = 0.0  # before answering MAIL FROM
    drop_at_data: bool = False
    hang_up_after_data: bool = False
    log: list[tuple[Any, str]] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)

    def connections(self) -> int:
        return len({peer for peer, _ in self.log})

    def verbs(self) -> list[str]:
        return [verb for _, verb in self.log]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        self.log.append((session.peer, "MAIL"))
        self.mail_options.append(options)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        self.log.append((session.peer, "RCPT"))
        if address.endswith("@refused.example"):
            return f"550 5.1.1 <{address}>: unknown user{self.echo}"
        envelope.rcpt_tos.append(address)
        return f"250 2.1.5 OK{self.echo}"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append((session.peer, "RSET"))
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append((session.peer, "QUIT"))
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append((session.peer, "DATA"))
        if self.drop_at_data:
            server.transport.abort()
            return "250 2.0.0 never heard"
        if self.data_reply is not None:
            return self.data_reply
        await super().handle_DATA(server, session, envelope)
        if self.hang_up_after_data:
            asyncio.get_running_loop().call_later(0.2, server.transport.close)
        return f"250 {QUEUED}{self.echo}"


class OAuthOnly(Scripted):
    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        return AuthResult(success=False, handled=False)


def check_login(server: Any, session: Any, envelope: Any, mechanism: str,
                auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    return AuthResult(success=ok, handled=False)


def params(port: int, **more: Any) -> dict[str, object]:
    return {**DEFAULTS, "mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
            "mail.smtp.connectiontimeout": 5000, "mail.smtp.timeout": 5000, **more}


def with_login(port: int, **more: Any) -> dict[str, object]:
    return params(port, **{"mail.smtp.auth": True, "mail.smtp.user": USER, **more})


def message(subject: str, body: str = "Hello.\n", to: str = "ops@example.org") -> bytes:
    built = EmailMessage()
    built["From"], built["To"], built["Subject"] = SENDER, to, subject
    built["Message-ID"] = f"<{subject.replace(' ', '-')}@d1.example>"
    built.set_content(body, cte="8bit")
    return built.as_bytes(policy=SMTP)


async def deliver(connection: mailer.Connection, subject: str, *to: str,
                  budget: float = 5.0, body: str = "Hello.\n") -> Delivered:
    recipients = to or ("ops@example.org",)
    return await connection.deliver(SENDER, recipients, message(subject, body, recipients[0]),
                                    time_budget=budget)


async def fails(connection: mailer.Connection, subject: str, budget: float = 5.0
                ) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        await deliver(connection, subject, budget=budget)
    return caught.value


def told(failure: SendFailed) -> tuple[SendFailure, int | None, str | None, str]:
    return failure.kind, failure.smtp_code, failure.stage, str(failure)


async def test_three_messages_over_one_connection_with_rset_between() -> None:
    handler = Scripted()
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            results = [await deliver(connection, f"n{n}", body=".leading dot\nend\n")
                       for n in (1, 2, 3)]
            assert connection.alive is True
        assert connection.alive is False
    for result in results:
        assert (result.recipients, result.data_code, result.data_text) == (
            [RecipientReply("ops@example.org", 250, "2.1.5 OK")], 250, QUEUED)
        assert 0 <= result.ms < 5000
    assert [m.message["Subject"] for m in handler.messages] == ["n1", "n2", "n3"]
    # Dot-stuffed on the wire, whole on arrival.
    assert handler.messages[0].message.get_payload() == ".leading dot\r\nend\r\n"
    assert handler.connections() == 1
    assert handler.verbs() == ["MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA",
                               "RSET", "MAIL", "RCPT", "DATA", "QUIT"]


async def test_a_refused_recipient_does_not_stop_the_others() -> None:
    handler = Scripted()
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            result = await deliver(connection, "three", "a@example.org",
                                   "nobody@refused.example", "b@example.org")
    assert [(r.address, r.code, r.text) for r in result.recipients] == [
        ("a@example.org", 250, "2.1.5 OK"),
        ("nobody@refused.example", 550, "5.1.1 <nobody@refused.example>: unknown user"),
        ("b@example.org", 250, "2.1.5 OK")]
    assert (result.data_code, result.data_text) == (250, QUEUED)
    assert [m.rcpt_tos for m in handler.messages] == [["a@example.org", "b@example.org"]]


async def test_every_recipient_refused_sends_no_data_and_the_next_message_goes() -> None:
    handler = Scripted()
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            refused = await deliver(connection, "none", "x@refused.example")
            sent = await deliver(connection, "next")
    assert (refused.data_code, refused.data_text, [r.code for r in refused.recipients]) == (
        None, "", [550])
    assert sent.data_code == 250
    assert [m.message["Subject"] for m in handler.messages] == ["next"]
    assert handler.verbs() == ["MAIL", "RCPT", "RSET", "MAIL", "RCPT", "DATA", "QUIT"]


@pytest.mark.parametrize("reply", ["451 4.3.0 Try again later", "550 5.7.1 Sender refused"])
async def test_a_refused_mail_from_fails_that_message_only(reply: str) -> None:
    handler = Scripted(mail_reply=reply)
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            failure = await fails(connection, "refused")
            assert connection.alive is True
            handler.mail_reply = None
            sent = await deliver(connection, "next")
    code = int(reply[:3])
    assert told(failure) == (SendFailure.REJECTED, code, "mail_from",
                             f"the server replied {reply}")
    assert sent.data_code == 250
    assert [m.message["Subject"] for m in handler.messages] == ["next"]
    assert (handler.connections(), handler.verbs()) == (
        1, ["MAIL", "RSET", "MAIL", "RCPT", "DATA", "QUIT"])


async def test_a_421_to_mail_from_ends_the_connection() -> None:
    handler = Scripted(mail_reply="421 4.3.2 Shutting down")
    with aiosmtpd_server(handler=handler) as server:
        connection = await mailer.connect(params(server.port), None, rules=RULES,
                                          time_budget=5)
        failure = await fails(connection, "late")
        assert connection.alive is False
        again = await fails(connection, "again")
    assert told(failure) == (SendFailure.REJECTED, 421, "mail_from",
                             "the server replied 421 4.3.2 Shutting down")
    assert told(again) == (SendFailure.CONNECTION, None, "connect",
                           f"the connection to 127.0.0.1:{server.port} is closed")


async def test_a_refused_data_fails_that_message_only() -> None:
    handler = Scripted(data_reply="554 5.6.0 Message content refused")
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            failure = await fails(connection, "refused")
            assert connection.alive is True
            handler.data_reply = None
            sent = await deliver(connection, "next")
    assert told(failure) == (SendFailure.REJECTED, 554, "data",
                             "the server replied 554 5.6.0 Message content refused")
    assert sent.data_code == 250
    assert [m.message["Subject"] for m in handler.messages] == ["next"]
    assert handler.connections() == 1


async def test_a_drop_mid_session_ends_the_connection() -> None:
    handler = Scripted(drop_at_data=True)
    with aiosmtpd_server(handler=handler) as server:
        connection = await mailer.connect(params(server.port), None, rules=RULES,
                                          time_budget=5)
        failure = await fails(connection, "dropped")
    assert told(failure) == (SendFailure.CONNECTION, None, "data",
                             f"127.0.0.1:{server.port} closed the connection")
    assert connection.alive is False
    assert handler.messages == []


async def test_a_connection_the_server_closed_while_idle_is_not_alive() -> None:
    handler = Scripted(hang_up_after_data=True)
    with aiosmtpd_server(handler=handler) as server:
        connection = await mailer.connect(params(server.port), None, rules=RULES,
                                          time_budget=5)
        await deliver(connection, "last")
        for _ in range(50):
            if not connection.alive:
                break
            await asyncio.sleep(0.05)
        assert connection.alive is False
        failure = await fails(connection, "next")
    assert (failure.kind, failure.stage) == (SendFailure.CONNECTION, "connect")
    assert len(handler.messages) == 1


async def test_a_silent_server_times_out_within_the_messages_budget() -> None:
    handler = Scripted(delay=5.0)
    with aiosmtpd_server(handler=handler) as server:
        connection = await mailer.connect(params(server.port), None, rules=RULES,
                                          time_budget=5)
        started = time.monotonic()
        failure = await fails(connection, "slow", budget=1.0)
        elapsed = time.monotonic() - started
        assert connection.alive is False
    assert told(failure) == (SendFailure.TIMEOUT, None, "mail_from",
                             f"127.0.0.1:{server.port} did not answer in time")
    assert 0.9 < elapsed < 2.0


async def test_each_message_has_its_own_budget_not_the_openings() -> None:
    handler = Scripted(delay=1.5)
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=1.0) as connection:
            sent = await deliver(connection, "slow but in time", budget=5.0)
    assert sent.data_code == 250


async def test_replies_quoting_the_password_come_back_scrubbed() -> None:
    handler = Scripted(echo=f" for {USER}:{PASSWORD} ({AUTH_PLAIN_LINE})")
    with aiosmtpd_server(handler=handler, authenticator=check_login) as server:
        async with await mailer.connect(with_login(server.port), PASSWORD, rules=RULES,
                                        time_budget=5) as connection:
            sent = await deliver(connection, "echo", "a@example.org", "x@refused.example")
            handler.mail_reply = f"550 5.7.1 {PASSWORD} / {AUTH_PLAIN_LINE} refused"
            failure = await fails(connection, "refused")
    assert [r.text for r in sent.recipients] == [
        "2.1.5 OK for ***:*** (***)",
        "5.1.1 <x@refused.example>: unknown user for ***:*** (***)"]
    assert sent.data_text == f"{QUEUED} for ***:*** (***)"
    assert told(failure) == (SendFailure.REJECTED, 550, "mail_from",
                             "the server replied 550 5.7.1 *** / *** refused")


async def test_starttls_and_auth_connection_carries_two_messages() -> None:
    ca, handler = trustme.CA(), Scripted()
    with aiosmtpd_server(starttls=server_context(ca, "127.0.0.1"), handler=handler,
                         authenticator=check_login, auth_require_tls=True) as server:
        async with await mailer.connect(
                with_login(server.port, **{"mail.smtp.starttls.enable": True}), PASSWORD,
                rules=RULES, time_budget=5, ca_pem=ca.cert_pem.bytes().decode()
        ) as connection:
            first = await deliver(connection, "one")
            second = await deliver(connection, "two")
    assert (first.data_code, second.data_code) == (250, 250)
    assert [(m.message["Subject"], m.tls) for m in handler.messages] == [
        ("one", True), ("two", True)]
    assert handler.connections() == 1
    assert handler.verbs().count("RSET") == 1


async def test_mail_from_declares_size_and_8bitmime_for_a_non_ascii_body() -> None:
    handler = Scripted()
    with aiosmtpd_server(handler=handler) as server:
        async with await mailer.connect(params(server.port), None, rules=RULES,
                                        time_budget=5) as connection:
            await deliver(connection, "ascii")
            await deliver(connection, "utf-8", body="Grüße aus Köln\n")
    sizes = [len(message("ascii")), len(message("utf-8", "Grüße aus Köln\n"))]
    assert handler.mail_options == [[f"SIZE={sizes[0]}"],
                                    [f"SIZE={sizes[1]}", "BODY=8BITMIME"]]
    assert handler.messages[1].message.get_payload(decode=True) == (
        "Grüße aus Köln\r\n".encode())


@pytest.mark.parametrize("case", ["refused-port", "silent", "stripped-starttls",
                                  "wrong-password", "token-endpoint-down"])
async def test_a_failed_opening_names_its_kind_and_stage(case: str) -> None:
    with smtp_server() as gone:
        closed = gone.port
    with silent_server() as silent, smtp_server() as plain, \
            aiosmtpd_server(authenticator=check_login) as auth, \
            aiosmtpd_server(handler=OAuthOnly(), authenticator=check_login) as oauth:
        given, expected = {
            "refused-port": (params(closed), (
                SendFailure.CONNECTION, None, "connect",
                f"127.0.0.1:{closed} refused the connection")),
            "silent": (params(silent), (
                SendFailure.TIMEOUT, None, "connect",
                f"127.0.0.1:{silent} did not answer in time")),
            "stripped-starttls": (
                with_login(plain.port, **{"mail.smtp.starttls.enable": True}),
                (SendFailure.TLS, None, "tls", mailer.STRIPPED)),
            "wrong-password": (with_login(auth.port), (
                SendFailure.AUTH_REFUSED, 535, "auth",
                "the server refused the login (reply code 535)")),
            "token-endpoint-down": (with_login(oauth.port, **{
                "mail.smtp.auth.mechanisms": "XOAUTH2",
                "mail.smtp.auth.xoauth2.token_url": f"https://127.0.0.1:{closed}/token",
                "mail.smtp.auth.xoauth2.client_id": "client-1"}), None),
        }[case]
        password = f"{PASSWORD}-wrong" if case == "wrong-password" else PASSWORD
        started = time.monotonic()
        with pytest.raises(SendFailed) as caught:
            await mailer.connect(given, password, rules=RULES, time_budget=1.5)
    assert time.monotonic() - started < 2.5
    if expected is None:  # the token endpoint's failure is oauth's to word
        assert (caught.value.kind, caught.value.stage) == (SendFailure.OAUTH, "token")
    else:
        assert told(caught.value) == expected
    assert PASSWORD not in str(caught.value)

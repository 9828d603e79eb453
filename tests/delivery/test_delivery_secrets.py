"""No secret leaves delivery: not the gateway's password (plain, or in the base64 of
the AUTH PLAIN and AUTH LOGIN lines), not a submission key (npk_…), in any log line at
any level (`mail.debug` on for most gateways), in a message's attempts over the
submission API, or in the Navixy face's messages and health answers.

Deliveries through gateways with AUTH that succeed and fail: a login refused (535),
a relay quoting the credentials in its refusal of the login, in its 250 to DATA and in
its refusal of MAIL FROM, as some servers do.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import orjson
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from navixy_panel.security.secret_box import SecretBox
from navixy_panel.settings import Settings
from tests.support.api import Api
from tests.support.delivery import dealer_on_relay, new_key, read, submit, wait_for
from tests.support.smtp import PASSWORD, USER, aiosmtpd_server, smtp_server, talking_peer

WRONG = PASSWORD + "-wrong"
RELAY_LOGGER = "mail.log"  # aiosmtpd's, in the test relays: not the service's lines


def forms(secret: str) -> list[str]:
    """A secret as it may travel: plain, base64 alone (AUTH LOGIN), base64 of the AUTH
    PLAIN line."""
    plain_line = f"\0{USER}\0{secret}".encode()
    return [secret, base64.b64encode(secret.encode()).decode(),
            base64.b64encode(plain_line).decode()]


def echoing_authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
    """Refuses every login quoting what the client sent."""
    assert isinstance(auth_data, LoginPassword)
    line = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
    return AuthResult(success=False, handled=False,
                      message=f"535 5.7.8 Authentication failed for AUTH PLAIN {line} "
                              f"({auth_data.password.decode()})")


def echo_of_auth(seen: list[str]) -> str:
    """The client's lines from AUTH to MAIL FROM, and the credentials in plain words."""
    start = next(i for i, line in enumerate(seen) if line.upper().startswith("AUTH"))
    end = next(i for i, line in enumerate(seen) if line.upper().startswith("MAIL"))
    return " | ".join(seen[start:end]) + f" (user {USER}, password {PASSWORD})"


@contextmanager
def peer(**kwargs: Any) -> Iterator[int]:
    with talking_peer(**kwargs) as (port, _):
        yield port


@contextmanager
def relay(**kwargs: Any) -> Iterator[int]:
    with aiosmtpd_server(**kwargs) as server:
        yield server.port


@contextmanager
def auth_relay() -> Iterator[int]:
    with smtp_server(auth=True) as server:
        yield server.port


# login: (the relay, the gateway's password, mail.debug, the status the message reaches)
CASES: dict[str, tuple[Callable[[], AbstractContextManager[int]], str, bool, str]] = {
    "good": (auth_relay, PASSWORD, True, "sent"),
    "refused": (auth_relay, WRONG, True, "deferred"),
    "quoted": (lambda: relay(authenticator=echoing_authenticator), WRONG, True, "deferred"),
    "echo-data": (lambda: peer(data_reply=lambda seen: "250 2.0.0 Queued; you said: "
                               + echo_of_auth(seen)), PASSWORD, True, "sent"),
    "echo-login": (lambda: peer(auth="LOGIN", data_reply=lambda seen: "250 2.0.0 Queued; "
                                "you said: " + echo_of_auth(seen)), PASSWORD, False, "sent"),
    "echo-mail": (lambda: peer(mail_reply=lambda seen: "550 5.7.1 Refused; you said: "
                               + echo_of_auth(seen)), PASSWORD, True, "failed"),
}


async def test_no_secret_in_logs_attempts_or_answers(make_client, api: Api, settings: Settings,
                                                     caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    client = await make_client(deliver=True)
    api.client = client
    box = SecretBox(list(settings.secret_keys))
    found: dict[str, dict[str, Any]] = {}
    answers: list[Any] = []
    keys: list[str] = []
    # The relays stay up until the workers have stopped: a peer stopping first would
    # wait on the connection a lane still holds open.
    with ExitStack() as relays:
        for login, (server, password, debug, status) in CASES.items():
            port = relays.enter_context(server())
            dealer_id, _ = await dealer_on_relay(
                api, login, port, box=box, **{"mail.smtp.auth": True, "mail.smtp.user": USER,
                                              "mail.smtp.password": password,
                                              "mail.debug": debug})
            key = await new_key(client, dealer_id)
            keys.append(key)
            code, accepted = await submit(client, key)
            assert code == 202, accepted
            found[login] = await wait_for(client, key, accepted["id"], statuses=(status,))
            answers.append(await read(client, key, accepted["id"]))
            h = await api.login(login)
            answers.append(await api.ok("gateways/email/messages/read", hash=h,
                                        json={"message_id": accepted["id"]}))
            answers.append(await api.ok("gateways/email/messages/list", hash=h))
            answers.append(await api.ok("gateways/email/health", hash=h))
        await client.close()
    # The echoes happened, and what the dealer reads of them is scrubbed.
    for login in ("echo-data", "echo-login"):
        (attempt,) = found[login]["attempts"]
        mechanism = "PLAIN ***" if login == "echo-data" else "LOGIN *** | ***"
        assert attempt["reply_text"] == (f"2.0.0 Queued; you said: AUTH {mechanism} "
                                         "(user ***, password ***)")
    (attempt,) = found["echo-mail"]["attempts"]
    assert (attempt["stage"], attempt["reply_code"]) == ("mail_from", 550)
    assert attempt["reply_text"] == ("the server replied 550 5.7.1 Refused; you said: "
                                     "AUTH PLAIN *** (user ***, password ***)")
    for login in ("refused", "quoted"):
        assert found[login]["attempts"][0]["kind"] == "auth_refused"
    secrets = [form for secret in (PASSWORD, WRONG, *keys) for form in forms(secret)]
    answered = orjson.dumps(answers).decode()
    assert [secret for secret in secrets if secret in answered] == []
    lines = [record for record in caplog.records if record.name != RELAY_LOGGER]
    # mail.debug was on: the SMTP dialogue is in the log, its AUTH step masked.
    assert any("AUTH ***" in record.getMessage() for record in lines)
    for record in lines:
        text = logging.Formatter().format(record) + repr(vars(record))
        assert [secret for secret in secrets if secret in text] == [], text

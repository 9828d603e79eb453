"""No credential in any log line, aiosmtpd's own (`mail.log`) included, at DEBUG: every
way a client can send its login and key, well-formed or not, in turn or out of it."""

from __future__ import annotations

import base64
import logging

import pytest

from navixy_panel.submission import log_masking
from tests.support import submission as smtp
from tests.support.api import Api
from tests.support.delivery import new_key


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def spellings(key: str) -> list[str]:
    """How the key could show up in a line: as typed, in each base64 form a client
    sends (alone, AUTH PLAIN's), and upper-cased (aiosmtpd names an unknown command so)."""
    found = [key, b64(key), b64(f"\0dealer\0{key}"), b64(f"dealer\0dealer\0{key}"),
             key[4:20], b64(key)[8:30]]
    return found + [each.upper() for each in found]


async def test_no_credential_in_any_log_line(make_client, api: Api,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=log_masking.AIOSMTPD_LOGGER)
    client = await make_client(submission_port=0)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    port = smtp.port(client)

    session = await smtp.connect(port)  # AUTH PLAIN with the initial response, then mail
    assert (await smtp.auth_plain(session, "dealer", key)).code == 235
    assert (await smtp.transaction(session, smtp.message(body=f"no {key[:4]} here")))[0] == 250
    # Out of turn: the credentials again, as lines that are no command.
    assert (await smtp.command(session, "AUTH", "PLAIN", b64(f"\0dealer\0{key}")))[0] == 503
    assert (await smtp.command(session, b64(f"\0dealer\0{key}")))[0] == 500
    assert (await smtp.command(session, key))[0] == 500
    assert (await smtp.command(session, b64("dealer")))[0] == 500
    await session.quit()

    session = await smtp.connect(port)  # AUTH PLAIN answering the server's challenge
    assert await smtp.command(session, "AUTH", "PLAIN") == (334, "")
    assert (await smtp.command(session, b64(f"dealer\0dealer\0{key}")))[0] == 235
    await session.quit()

    session = await smtp.connect(port)  # AUTH LOGIN, one step at a time
    assert await smtp.command(session, "AUTH", "LOGIN") == (334, "VXNlcm5hbWU6")
    assert await smtp.command(session, b64("dealer")) == (334, "UGFzc3dvcmQ6")
    assert (await smtp.command(session, b64(key)))[0] == 235
    await session.quit()

    session = await smtp.connect(port)  # mistakes: the key in clear, extra words, a wrong key
    assert await smtp.command(session, "AUTH", "LOGIN", b64("dealer")) == (334, "UGFzc3dvcmQ6")
    assert (await smtp.command(session, key))[0] == 501  # not base64
    assert (await smtp.command(session, "AUTH", "PLAIN", b64(f"\0dealer\0{key}"), key))[0] == 501
    assert (await smtp.auth_plain(session, "dealer", key[:-1] + "A"))[0] == 535
    await session.quit()

    lines = [record.getMessage() for record in caplog.records]
    lines += [record.exc_text or "" for record in caplog.records]
    assert any("mail.log" == record.name for record in caplog.records)
    assert any("MAIL FROM:<app@platform.example>" in line for line in lines)
    for spelled in spellings(key):
        leaking = [line for line in lines if spelled in line]
        assert not leaking, (spelled, leaking)
    assert key not in caplog.text


PEER = ("::1", 5)
QUOTED = b"it's \"quoted\"\r\n"  # repr'd with escaped quotes


@pytest.mark.parametrize(("line", "masked"), [
    (f"{PEER!r} >> {b'AUTH PLAIN AGRlYWxlcgBucGtfYWJj'!r}", "('::1', 5) >> b'AUTH PLAIN ***'"),
    (f"{PEER!r} >> {b'AUTH LOGIN'!r}", "('::1', 5) >> b'AUTH LOGIN'"),
    (f"{PEER!r} >> {b'RCPT TO:<a@example.com>'!r}", "('::1', 5) >> b'RCPT TO:<a@example.com>'"),
    (f"{PEER!r} >> {b'c2VjcmV0'!r}", "('::1', 5) >> b'***'"),
    (f"_handle_client readline: {QUOTED!r}", "_handle_client readline: b'***'"),
    ("('::1', 5) unrecognised: C2VJCMV0", "('::1', 5) unrecognised: ***"),
    ("can't decode base64: b'npk_abc'", "can't decode base64: b'***'"),
    ("DATA readline: b'Subject: alarm\\r\\n'", "DATA readline: b'***'"),
    ("('127.0.0.1', 5) sender: app@platform.example",
     "('127.0.0.1', 5) sender: app@platform.example"),
])
def test_masking(line: str, masked: str) -> None:
    assert log_masking.mask(line) == masked

"""The submission listener as mail libraries meet it (aiosmtplib, smtplib): what EHLO
offers, AUTH, the answer to each command, and that a refused message queues nothing."""

from __future__ import annotations

import asyncio
import base64
import smtplib

import pytest

from tests.support import submission as smtp
from tests.support.api import Api
from tests.support.delivery import new_key


@pytest.fixture
async def mail(make_client, api: Api):  # type: ignore[no-untyped-def]
    """A listener on loopback (AUTH in clear is allowed there), no delivery workers,
    and a dealer tree: root → dealer → sub; `other` is root's other child."""
    client = await make_client(submission_port=0, message_max_bytes=64 * 1024)
    api.client = client
    ids = {"root": await api.dealer("root")}
    ids["dealer"] = await api.dealer("dealer", parent="root")
    ids["sub"] = await api.dealer("sub", parent="dealer")
    ids["other"] = await api.dealer("other", parent="root")
    return client, api, ids, smtp.port(client)


async def test_ehlo_offers_size_and_auth(mail) -> None:  # type: ignore[no-untyped-def]
    _client, _api, _ids, port = mail
    session = await smtp.connect(port)
    assert session.last_ehlo_response.code == 250
    assert session.last_ehlo_response.message.split("\n")[1:] == [
        "SIZE 65536", "8BITMIME", "AUTH LOGIN PLAIN", "HELP"]
    await session.quit()


async def test_accepted_only_after_the_commit(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    session = await smtp.connect(port)
    assert (await smtp.auth_plain(session, "dealer", key)).code == 235
    raw = smtp.message(subject="Vehicle 7 left the zone")
    code, text = await smtp.transaction(session, raw, sender="billing@platform.example",
                                        to=("a@example.com", "b@example.com"))
    rows = await api.sql("SELECT id, dealer_id, key_id, subject, recipients, status, "
                         "priority, content FROM mail_messages")
    assert (code, text) == (250, f"2.0.0 OK queued as {rows[0].id}")
    row = rows[0]
    assert (row.dealer_id, row.subject, row.status, row.priority) == (
        ids["dealer"], "Vehicle 7 left the zone", "queued", 1)
    assert row.recipients == [
        {"address": "a@example.com", "status": "pending", "reply_code": None},
        {"address": "b@example.com", "status": "pending", "reply_code": None}]
    # The message as received (lines end in CRLF on the wire), kept for delivery.
    assert row.content.endswith(raw.replace(b"\n", b"\r\n"))
    # The session goes on: a second message, then QUIT.
    assert (await smtp.transaction(session, raw))[0] == 250
    await session.quit()
    assert await smtp.queued(api) == 2


async def test_smtplib_login_and_send(mail) -> None:  # type: ignore[no-untyped-def]
    """Python's own client, as an integrator's script uses it (in a thread: it blocks)."""
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])

    def send(mechanism: str) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP(smtp.HOST, port, timeout=10) as session:
            session.ehlo()
            session.user, session.password = "dealer", key
            code, _ = session.auth(mechanism, getattr(session, f"auth_{mechanism.lower()}"))
            assert code == 235
            return session.sendmail("app@platform.example", ["c@example.com"],
                                    smtp.message(to="c@example.com"))

    assert await asyncio.to_thread(send, "PLAIN") == {}
    assert await asyncio.to_thread(send, "LOGIN") == {}
    assert await smtp.queued(api) == 2


async def test_auth_login_with_an_initial_response(mail) -> None:  # type: ignore[no-untyped-def]
    client, _api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    session = await smtp.connect(port)
    user = base64.b64encode(b"dealer").decode()
    assert await smtp.command(session, "AUTH", "LOGIN", user) == (334, "UGFzc3dvcmQ6")
    assert await smtp.command(session, base64.b64encode(key.encode()).decode()) == (
        235, "2.7.0 Authentication successful")
    assert (await smtp.transaction(session, smtp.message()))[0] == 250


async def test_nothing_before_auth(mail) -> None:  # type: ignore[no-untyped-def]
    """Never an open relay: MAIL, RCPT and DATA without AUTH are all 530."""
    _client, api, _ids, port = mail
    session = await smtp.connect(port)
    for words in (("MAIL", "FROM:<a@example.com>"), ("RCPT", "TO:<b@example.com>"),
                  ("DATA",)):
        assert await smtp.command(session, *words) == (530, "5.7.0 Authentication required")
    assert await smtp.queued(api) == 0


@pytest.mark.parametrize("case", ["wrong_key", "malformed", "other_login", "revoked",
                                  "blocked", "unknown_login"])
async def test_refused_auth_then_rcpt_is_530(mail, case) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    other = await new_key(client, ids["other"])
    login, secret = {"wrong_key": ("dealer", "npk_" + "x" * 43),
                     "malformed": ("dealer", "hunter2"),
                     "other_login": ("dealer", other),  # a valid key of another dealer
                     "revoked": ("dealer", key), "blocked": ("dealer", key),
                     "unknown_login": ("nobody", key)}[case]
    if case == "revoked":
        await api.sql("UPDATE submission_keys SET revoked_at = now() WHERE dealer_id = :id",
                      id=ids["dealer"])
    if case == "blocked":
        await api.sql("UPDATE dealers SET block_status = 'BLOCK_LOGIN' WHERE id = :id",
                      id=ids["dealer"])
    session = await smtp.connect(port)
    reply = await smtp.auth_plain(session, login, secret)
    assert (reply.code, reply.message) == (535, "5.7.8 Authentication credentials invalid")
    assert await smtp.command(session, "MAIL", "FROM:<a@example.com>") == (
        530, "5.7.0 Authentication required")
    assert await smtp.command(session, "RCPT", "TO:<b@example.com>") == (
        530, "5.7.0 Authentication required")
    assert await smtp.queued(api) == 0


@pytest.mark.parametrize("change", ["revoke", "block"])
async def test_key_refused_mid_session(mail, change) -> None:  # type: ignore[no-untyped-def]
    """The key is checked again in the transaction that would queue the message."""
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    session = await smtp.connect(port)
    assert (await smtp.auth_plain(session, "dealer", key)).code == 235
    if change == "revoke":
        await api.sql("UPDATE submission_keys SET revoked_at = now()")
    else:
        await api.sql("UPDATE dealers SET block_status = 'INITIAL_BLOCK' WHERE id = :id",
                      id=ids["dealer"])
    assert await smtp.transaction(session, smtp.message()) == (
        535, "5.7.8 Authentication credentials invalid")
    assert await smtp.command(session, "MAIL", "FROM:<a@example.com>") == (
        530, "5.7.0 Authentication required")
    assert await smtp.queued(api) == 0


async def test_three_failures_close_the_session(mail) -> None:  # type: ignore[no-untyped-def]
    _client, _api, _ids, port = mail
    session = await smtp.connect(port)
    for _ in range(2):
        assert (await smtp.auth_plain(session, "dealer", "npk_" + "y" * 43)).code == 535
    reply = await smtp.auth_plain(session, "dealer", "npk_" + "y" * 43)
    assert (reply.code, reply.message) == (421, "4.7.0 Too many failed authentications: "
                                                "closing")
    assert not session.is_connected


@pytest.mark.parametrize("args", [("PLAIN", "not-base64!"), ("PLAIN", "YWJj"),
                                  ("CRAM-MD5",), ("XOAUTH2", "abc")])
async def test_malformed_auth(mail, args) -> None:  # type: ignore[no-untyped-def]
    _client, _api, _ids, port = mail
    session = await smtp.connect(port)
    code, text = await smtp.command(session, "AUTH", *args)
    assert (code, text) == {
        "not-base64!": (501, "5.5.2 Cannot decode base64"),
        "YWJj": (501, "5.5.2 Cannot split the AUTH PLAIN response"),
    }.get(args[-1], (504, "5.5.4 Unrecognized authentication type"))


async def test_for_a_sub_dealer_by_login_id_or_numeric_login(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    numeric = await api.dealer("90210", parent="dealer")
    key = await new_key(client, ids["root"])
    for header in ("sub", str(ids["sub"]), "90210"):
        code, _ = await smtp.submit(port, "root", key, smtp.message(X_Navixy_Dealer=header))
        assert code == 250, header
    rows = await api.sql("SELECT dealer_id FROM mail_messages ORDER BY id")
    assert [row.dealer_id for row in rows] == [ids["sub"], ids["sub"], numeric]


@pytest.mark.parametrize("header", ["other", "root", "nobody", "987654", " "])
async def test_outside_the_subtree_is_550(mail, header) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    raw = smtp.message(X_Navixy_Dealer=header)
    assert await smtp.submit(port, "dealer", key, raw) == (
        550, "5.7.1 The key may not submit for this dealer")
    assert await smtp.queued(api) == 0


async def test_two_dealer_headers(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["root"])
    raw = b"X-Navixy-Dealer: sub\r\nX-Navixy-Dealer: dealer\r\nSubject: x\r\n\r\nbody\r\n"
    assert await smtp.submit(port, "root", key, raw) == (
        554, "5.6.0 Give one X-Navixy-Dealer header at most.")
    assert await smtp.queued(api) == 0


async def test_fifty_recipients_at_most(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    session = await smtp.connect(port)
    await smtp.auth_plain(session, "dealer", key)
    assert (await smtp.command(session, "MAIL", "FROM:<a@example.com>"))[0] == 250
    for index in range(50):
        assert (await smtp.command(session, "RCPT", f"TO:<r{index}@example.com>"))[0] == 250
    assert await smtp.command(session, "RCPT", "TO:<r50@example.com>") == (
        452, "4.5.3 Too many recipients: at most 50 per message")
    reply = await session.data(smtp.message())
    assert reply.code == 250
    rows = await api.sql("SELECT jsonb_array_length(recipients) AS n FROM mail_messages")
    assert [row.n for row in rows] == [50]


@pytest.mark.parametrize(("words", "reply"), [
    (("MAIL", "FROM:<a@b@example.com>"), (553, "5.1.3 Error: malformed address")),
    (("MAIL", "FROM:<not an address>"), (553, "5.1.7 The sender address is not valid")),
    (("MAIL", "FROM:<a@example.com> SIZE=65537"),
     (552, "5.3.4 Message too big: at most 65536 bytes")),
])
async def test_mail_from_refused(mail, words, reply) -> None:  # type: ignore[no-untyped-def]
    client, _api, ids, port = mail
    session = await smtp.connect(port)
    await smtp.auth_plain(session, "dealer", await new_key(client, ids["dealer"]))
    assert await smtp.command(session, *words) == reply


async def test_bad_recipient(mail) -> None:  # type: ignore[no-untyped-def]
    client, _api, ids, port = mail
    session = await smtp.connect(port)
    await smtp.auth_plain(session, "dealer", await new_key(client, ids["dealer"]))
    await smtp.command(session, "MAIL", "FROM:<a@example.com>")
    assert await smtp.command(session, "RCPT", "TO:<x@-bad-.example>") == (
        553, "5.1.3 The recipient address is not valid")


async def test_over_the_size_limit(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    raw = smtp.message(body="x" * 70 + ("\n" + "y" * 70) * 1000)
    assert await smtp.submit(port, "dealer", key, raw) == (
        552, "5.3.4 Message too big: at most 65536 bytes")
    assert await smtp.queued(api) == 0


async def test_a_line_over_1000_octets(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    raw = b"Subject: long\r\n\r\n" + b"x" * 1000 + b"\r\n"
    assert await smtp.submit(port, "dealer", key, raw) == (
        500, "Line too long (see RFC5321 4.5.3.1.6)")
    raw = b"Subject: long enough\r\n\r\n" + b"x" * 998 + b"\r\n"
    assert (await smtp.submit(port, "dealer", key, raw))[0] == 250
    assert await smtp.queued(api) == 1


async def test_quota_is_452(make_client, api: Api) -> None:
    client = await make_client(submission_port=0, dealer_queue_quota=2)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    port = smtp.port(client)
    replies = [await smtp.submit(port, "dealer", key) for _ in range(3)]
    assert [code for code, _ in replies] == [250, 250, 452]
    assert replies[2][1] == "4.3.1 The dealer's queue is full: try again later"
    assert await smtp.queued(api) == 2


async def test_key_rate_is_452(make_client, api: Api) -> None:
    client = await make_client(submission_port=0, key_rate_per_second=2)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    session = await smtp.connect(smtp.port(client))
    await smtp.auth_plain(session, "dealer", key)
    replies = [await smtp.transaction(session, smtp.message()) for _ in range(4)]
    assert (452, "4.7.1 Too many submissions with this key: slow down") in replies
    assert await smtp.queued(api) == sum(1 for code, _ in replies if code == 250)


async def test_disconnect_before_the_final_dot(mail) -> None:  # type: ignore[no-untyped-def]
    client, api, ids, port = mail
    key = await new_key(client, ids["dealer"])
    reader, writer = await asyncio.open_connection(smtp.HOST, port)
    blob = base64.b64encode(f"\0dealer\0{key}".encode())
    writer.write(b"EHLO test\r\nAUTH PLAIN " + blob + b"\r\nMAIL FROM:<a@example.com>\r\n"
                 b"RCPT TO:<b@example.com>\r\nDATA\r\n")
    await writer.drain()
    seen = b""
    while b"354" not in seen:
        seen += await reader.read(4096)
    writer.write(b"Subject: cut short\r\n\r\nhalf a message\r\n")
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.3)
    assert await smtp.queued(api) == 0
    assert not smtp.listener(client).sessions

"""TLS on the submission listener: AUTH only after STARTTLS (or on the implicit TLS
port) for clients beyond loopback, the operator's certificate verified by clients,
and a renewed certificate taken without a restart."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path

import aiosmtplib
import pytest
import trustme

from navixy_panel.submission.handler import is_loopback
from tests.support import submission as smtp
from tests.support.api import Api
from tests.support.delivery import new_key

ADDRESS = smtp.non_loopback_address()
beyond_loopback = pytest.mark.skipif(ADDRESS is None,
                                     reason="this machine has no address besides loopback")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(tmp_path: Path, ca: trustme.CA) -> tuple[Path, Path]:
    return smtp.certificate_files(tmp_path / "tls", ca, "localhost", "127.0.0.1",
                                  *([ADDRESS] if ADDRESS else []))


async def remote(make_client, api: Api, files: tuple[Path, Path] | None, **changes):  # type: ignore[no-untyped-def]
    """A listener on the machine's non-loopback address (its clients come from there
    too), with the certificate `files`, and the dealer's key."""
    cert, key = files if files else (None, None)
    client = await make_client(submission_port=0, submission_hosts=(ADDRESS,),
                               submission_tls_cert=cert, submission_tls_key=key, **changes)
    api.client = client
    return client, await new_key(client, await api.dealer("dealer"))


@pytest.mark.parametrize(("peer", "loopback"), [
    (("127.0.0.1", 25), True), (("127.9.9.9", 25), True), (("::1", 25, 0, 0), True),
    (("::ffff:127.0.0.1", 25, 0, 0), True), ((ADDRESS or "192.0.2.2", 25), False),
    (("fe80::1%eth0", 25, 0, 2), False), (("10.0.0.1", 25), False), (None, False)])
def test_who_is_loopback(peer, loopback) -> None:  # type: ignore[no-untyped-def]
    assert is_loopback(peer) is loopback


@beyond_loopback
async def test_auth_only_after_starttls(make_client, api: Api, files, ca) -> None:  # type: ignore[no-untyped-def]
    client, key = await remote(make_client, api, files)
    port = smtp.port(client)
    session = await smtp.connect(port, host=ADDRESS)
    offered = session.last_ehlo_response.message.split("\n")[1:]
    assert offered == ["SIZE 10485760", "8BITMIME", "STARTTLS", "HELP"]
    reply = await smtp.auth_plain(session, "dealer", key)
    assert (reply.code, reply.message) == (
        538, "5.7.11 Encryption required for requested authentication mechanism")
    assert await smtp.command(session, "RCPT", "TO:<b@example.com>") == (
        530, "5.7.0 Authentication required")
    await session.starttls(tls_context=smtp.client_context(ca))
    await session.ehlo()
    assert session.last_ehlo_response.message.split("\n")[1:] == [
        "SIZE 10485760", "8BITMIME", "AUTH LOGIN PLAIN", "HELP"]
    assert (await smtp.auth_plain(session, "dealer", key)).code == 235
    assert (await smtp.transaction(session, smtp.message()))[0] == 250
    assert await smtp.queued(api) == 1


@beyond_loopback
async def test_no_certificate_no_auth_beyond_loopback(make_client, api: Api) -> None:
    client, key = await remote(make_client, api, None)
    session = await smtp.connect(smtp.port(client), host=ADDRESS)
    assert "STARTTLS" not in session.last_ehlo_response.message
    assert "AUTH" not in session.last_ehlo_response.message
    assert (await smtp.auth_plain(session, "dealer", key)).code == 538
    assert await smtp.command(session, "MAIL", "FROM:<a@example.com>") == (
        530, "5.7.0 Authentication required")


@beyond_loopback
async def test_implicit_tls_port(make_client, api: Api, files, ca) -> None:  # type: ignore[no-untyped-def]
    client, key = await remote(make_client, api, files, submission_tls_port=0)
    session = await smtp.connect(smtp.port(client, "tls"), host=ADDRESS,
                                 tls=smtp.client_context(ca), implicit=True)
    offered = session.last_ehlo_response.message.split("\n")[1:]
    assert offered == ["SIZE 10485760", "8BITMIME", "AUTH LOGIN PLAIN", "HELP"]
    assert (await smtp.auth_plain(session, "dealer", key)).code == 235
    assert (await smtp.transaction(session, smtp.message()))[0] == 250


async def test_starttls_on_loopback(make_client, api: Api, files, ca) -> None:  # type: ignore[no-untyped-def]
    cert, key_file = files
    client = await make_client(submission_port=0, submission_tls_cert=cert,
                               submission_tls_key=key_file)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    session = await smtp.connect(smtp.port(client), tls=smtp.client_context(ca))
    await session.login("dealer", key)
    assert (await smtp.transaction(session, smtp.message()))[0] == 250


async def test_an_untrusted_client_handshake_does_not_stop_the_listener(
        make_client, api: Api, files) -> None:  # type: ignore[no-untyped-def]
    cert, key_file = files
    client = await make_client(submission_port=0, submission_tls_cert=cert,
                               submission_tls_key=key_file)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    strict = smtp.client_context(trustme.CA())  # trusts another CA: the handshake fails
    with pytest.raises(ssl.SSLCertVerificationError):
        await smtp.connect(smtp.port(client), tls=strict)
    assert (await smtp.submit(smtp.port(client), "dealer", key))[0] == 250


def served_names(session: aiosmtplib.SMTP) -> list[str]:
    assert session.transport is not None
    certificate = session.transport.get_extra_info("peercert")
    return [value for kind, value in certificate["subjectAltName"] if kind == "DNS"]


@pytest.mark.parametrize("implicit", [False, True])
async def test_renewed_certificate_is_used_without_restart(
        make_client, api: Api, tmp_path: Path, ca: trustme.CA, implicit: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    cert, key_file = smtp.certificate_files(tmp_path / "tls", ca, "old.example", "127.0.0.1")
    client = await make_client(submission_port=0, submission_tls_port=0,
                               submission_tls_cert=cert, submission_tls_key=key_file)
    port = smtp.port(client, "tls" if implicit else "starttls")

    async def names() -> list[str]:
        session = await smtp.connect(port, tls=smtp.client_context(ca), implicit=implicit)
        try:
            return served_names(session)
        finally:
            await session.quit()

    assert await names() == ["old.example"]
    # A renewal, written in place as some tools do.
    renewed = smtp.certificate_files(tmp_path / "renewed", ca, "new.example", "127.0.0.1")
    cert.write_bytes(renewed[0].read_bytes())
    key_file.write_bytes(renewed[1].read_bytes())
    deadline = time.monotonic() + 10
    while (found := await names()) != ["new.example"]:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.2)
    # A broken renewal keeps the certificate in use, and says so once.
    caplog.set_level(logging.WARNING, logger="navixy_panel.submission.tls")
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    for _ in range(8):
        assert await names() == ["new.example"]
        await asyncio.sleep(0.2)
    warnings = [record.getMessage() for record in caplog.records
                if record.name == "navixy_panel.submission.tls"]
    assert warnings == [f"SMTP submission certificate {cert} not reloaded: the files are not "
                        "a PEM certificate chain and its private key; the previous one stays "
                        "in use"]

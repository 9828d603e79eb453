"""The listener as part of the running service: its settings, on only when a port is
set, a taken port, the failed-AUTH limit it shares with panel logins, /metrics, the
session limit, shutdown, and `navixy-panel deliver` with a listener."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import text

from navixy_panel.settings import Settings, SettingsError
from navixy_panel.submission.runtime import SUBMISSION, ListenError
from tests.support import submission as smtp
from tests.support.api import PASSWORD, Api
from tests.support.database import TEST_KEY
from tests.support.delivery import new_key
from tests.support.net import free_port
from tests.support.processes import run


def test_settings(tmp_path: Path) -> None:
    cert, key = smtp.certificate_files(tmp_path, trustme.CA())
    settings = Settings.from_env({
        "NAVIXY_PANEL_SUBMISSION_PORT": "587", "NAVIXY_PANEL_SUBMISSION_TLS_PORT": "465",
        "NAVIXY_PANEL_SUBMISSION_HOST": "0.0.0.0, ::", "NAVIXY_PANEL_SUBMISSION_TLS_CERT":
        str(cert), "NAVIXY_PANEL_SUBMISSION_TLS_KEY": str(key)})
    assert (settings.submission_port, settings.submission_tls_port) == (587, 465)
    assert settings.submission_hosts == ("0.0.0.0", "::")
    assert (settings.submission_tls_cert, settings.submission_tls_key) == (cert, key)
    default = Settings.from_env({})
    assert (default.submission_port, default.submission_tls_port) == (None, None)
    assert default.submission_hosts == ("127.0.0.1",)


def refused(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    return caught.value.problems


def test_settings_refused(tmp_path: Path) -> None:
    cert, key = smtp.certificate_files(tmp_path, trustme.CA())
    other_key = smtp.certificate_files(tmp_path / "other", trustme.CA())[1]
    assert refused({"NAVIXY_PANEL_SUBMISSION_PORT": "0"}) == [
        "NAVIXY_PANEL_SUBMISSION_PORT: must be between 1 and 65535, got 0"]
    assert refused({"NAVIXY_PANEL_SUBMISSION_TLS_CERT": str(cert)}) == [
        "NAVIXY_PANEL_SUBMISSION_TLS_CERT and NAVIXY_PANEL_SUBMISSION_TLS_KEY: set both (the "
        "certificate chain and its private key, PEM) or neither"]
    assert refused({"NAVIXY_PANEL_SUBMISSION_TLS_PORT": "465"}) == [
        "NAVIXY_PANEL_SUBMISSION_TLS_PORT: set NAVIXY_PANEL_SUBMISSION_TLS_CERT and "
        "NAVIXY_PANEL_SUBMISSION_TLS_KEY too (implicit TLS needs a certificate)"]
    pair = {"NAVIXY_PANEL_SUBMISSION_TLS_CERT": str(cert),
            "NAVIXY_PANEL_SUBMISSION_TLS_KEY": str(key)}
    assert refused({**pair, "NAVIXY_PANEL_SUBMISSION_PORT": "587",
                    "NAVIXY_PANEL_SUBMISSION_TLS_PORT": "587"}) == [
        "NAVIXY_PANEL_SUBMISSION_TLS_PORT: must differ from NAVIXY_PANEL_SUBMISSION_PORT"]
    missing = tmp_path / "missing.pem"
    assert refused({**pair, "NAVIXY_PANEL_SUBMISSION_TLS_KEY": str(missing)}) == [
        f"NAVIXY_PANEL_SUBMISSION_TLS_CERT/_KEY: cannot read '{missing}' (No such file or "
        "directory)"]
    mismatch = f"NAVIXY_PANEL_SUBMISSION_TLS_CERT/_KEY: '{cert}' and '{{key}}' are not a PEM " \
               "certificate chain and its private key"
    assert refused({**pair, "NAVIXY_PANEL_SUBMISSION_TLS_KEY": str(other_key)}) == [
        mismatch.format(key=other_key)]
    # An encrypted key is refused, never prompted for (the test would hang).
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    assert refused({**pair, "NAVIXY_PANEL_SUBMISSION_TLS_KEY": str(encrypted)}) == [
        mismatch.format(key=encrypted)]


async def test_off_unless_a_port_is_set(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    assert SUBMISSION not in client.app


async def test_a_taken_port_stops_the_start(make_client) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as caught:
            await make_client(submission_port=port)
    assert str(caught.value) == (
        f"cannot listen for SMTP submission on 127.0.0.1 port {port} (Address already in "
        "use); choose another port with NAVIXY_PANEL_SUBMISSION_PORT, or other addresses "
        "with NAVIXY_PANEL_SUBMISSION_HOST")


async def test_failed_auth_counts_with_panel_logins(make_client, api: Api) -> None:
    """One limit per client address for wrong keys and wrong panel passwords alike; a
    right key gives its place back."""
    client = await make_client(submission_port=0, login_failures_per_address=3)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    port = smtp.port(client)
    for _ in range(4):
        assert (await smtp.submit(port, "dealer", key))[0] == 250
    await api.error("account/auth", 12, 400, form={"login": "dealer", "password": "bad"})
    session = await smtp.connect(port)
    for _ in range(2):
        assert (await smtp.auth_plain(session, "dealer", "npk_" + "z" * 43)).code == 535
    reply = await smtp.auth_plain(session, "dealer", key)
    assert (reply.code, reply.message) == (
        454, "4.7.0 Too many failed authentications from this address: try again later")
    await api.error("account/auth", 15, 429, form={"login": "dealer", "password": PASSWORD})
    rows = await api.sql("SELECT bucket, hits FROM rate_counters ORDER BY bucket")
    assert [(row.bucket, row.hits) for row in rows] == [
        ("address-failures:127.0.0.1", 3), ("login-failures:dealer", 1)]


async def test_metrics(make_client, api: Api) -> None:
    client = await make_client(submission_port=0, dealer_queue_quota=1)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    port = smtp.port(client)
    assert (await smtp.submit(port, "dealer", key))[0] == 250
    assert (await smtp.submit(port, "dealer", key))[0] == 452
    assert (await smtp.submit(port, "dealer", "npk_" + "q" * 43))[0] == 535
    text = await (await client.get("/metrics")).text()
    lines = [line for line in text.splitlines() if line.startswith("navixy_panel_smtp_")]
    assert lines == [
        "navixy_panel_smtp_sessions_total 3.0",
        "navixy_panel_smtp_sessions_open 0.0",
        'navixy_panel_smtp_auth_total{result="failed"} 1.0',
        'navixy_panel_smtp_auth_total{result="ok"} 2.0',
        'navixy_panel_smtp_messages_total{result="accepted"} 1.0',
        'navixy_panel_smtp_messages_total{result="quota_exceeded"} 1.0']


async def test_session_limit(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(submission_port=0)
    smtp.listener(client).max_sessions = 2
    held = [await smtp.connect(smtp.port(client)) for _ in range(2)]
    reader, writer = await asyncio.open_connection(smtp.HOST, smtp.port(client))
    assert await reader.read() == b"421 4.7.0 Too many connections: try again later\r\n"
    writer.close()
    await held[0].quit()
    assert (await smtp.connect(smtp.port(client))).is_connected


async def test_shutdown_answers_the_message_being_queued(make_client, api: Api) -> None:
    """An idle session is told 421; one whose message is being committed gets its 250."""
    client = await make_client(submission_port=0)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    listener, port = smtp.listener(client), smtp.port(client)
    idle, _ = await asyncio.open_connection(smtp.HOST, port)
    assert (await idle.readline()).startswith(b"220 ")
    busy = await smtp.connect(port)
    await busy.login("dealer", key)
    async with api.db() as blocker, blocker.begin():
        await blocker.execute(text("LOCK TABLE mail_messages IN EXCLUSIVE MODE"))
        sending = asyncio.create_task(smtp.transaction(busy, smtp.message()))
        while not any(session.busy for session in listener.sessions):
            await asyncio.sleep(0.01)
        stopping = asyncio.create_task(listener.stop())
        await asyncio.sleep(0.3)  # the idle session is closed meanwhile
        assert not stopping.done()
    assert await sending == (250, "2.0.0 OK queued as 1")
    await stopping
    assert await idle.read() == b"421 4.3.2 Service shutting down: try again later\r\n"
    assert not listener.sessions and await smtp.queued(api) == 1


async def test_a_finished_message_is_queued_though_the_client_left(make_client,
                                                                   api: Api) -> None:
    """The final `.` arrived: the message is committed even if the client disconnects
    before it reads the 250."""
    client = await make_client(submission_port=0)
    api.client = client
    key = await new_key(client, await api.dealer("dealer"))
    listener = smtp.listener(client)
    async with api.db() as blocker, blocker.begin():
        await blocker.execute(text("LOCK TABLE mail_messages IN EXCLUSIVE MODE"))
        reader, writer = await asyncio.open_connection(smtp.HOST, smtp.port(client))
        writer.write(b"EHLO test\r\nAUTH PLAIN " + base64.b64encode(f"\0dealer\0{key}".encode())
                     + b"\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                     b"DATA\r\n")
        seen = b""
        while b"354" not in seen:
            seen += await reader.read(4096)
        writer.write(b"Subject: left early\r\n\r\nbody\r\n.\r\n")
        await writer.drain()
        while not listener.handler.pending:
            await asyncio.sleep(0.01)
        writer.close()
        await asyncio.sleep(0.2)
    while listener.handler.pending:
        await asyncio.sleep(0.01)
    rows = await api.sql("SELECT subject FROM mail_messages")
    assert [row.subject for row in rows] == ["left early"]


async def test_deliver_command_runs_the_listener(api: Api, database_url: str) -> None:
    await api.dealer("dealer")
    created = run("key", "create", "--dealer", "dealer", database_url=database_url)
    key = json.loads(created.stdout)["key"]
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "NAVIXY_PANEL_SECRET_KEY":
                   TEST_KEY, "NAVIXY_PANEL_SUBMISSION_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "navixy_panel", "deliver",
                                "--no-migrate"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                socket.create_connection((smtp.HOST, port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the listener did not open"
                await asyncio.sleep(0.1)
        assert (await smtp.submit(port, "dealer", key))[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert key not in output
    assert await smtp.queued(api) == 1

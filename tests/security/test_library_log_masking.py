"""No secret in the lines aiohttp itself writes about requests it could not parse.

An over-long request line or header (over 8,190 bytes), or a bad character, makes
aiohttp log an exception that quotes the offending bytes, before any handler of
ours runs. The requests go over a raw socket to the real app (production runner
options), and every captured record is formatted the ways the service formats them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from aiohttp.test_utils import TestClient

from navixy_panel import logs

PASSWORD = "Real-Pa55word-" + secrets.token_hex(4)
HASH = secrets.token_hex(16)
WEBITEL_KEY = "0f8fad5b-d9cb-469f-a165-70867728950e"
JWT_SIGNATURE = secrets.token_urlsafe(32)
WEBITEL_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3fQ." + JWT_SIGNATURE
PAD = 9000


def head(request_line: str, *headers: str) -> bytes:
    return ("\r\n".join([request_line, "Host: panel.test", *headers]) + "\r\n\r\n").encode()


CASES = {
    "password-in-long-request-line": (
        head(f"GET /v2/panel/account/auth?login=x&password={PASSWORD}&pad={'x' * PAD} HTTP/1.1"),
        [PASSWORD]),
    "authorization-beside-long-header": (
        head("POST /v2/panel/gateways/email/list HTTP/1.1", f"Authorization: NVX {HASH}",
             f"X-Pad: {'y' * PAD}"),
        [HASH]),
    "long-authorization-header": (
        head("POST /v2/panel/gateways/email/list HTTP/1.1",
             f"Authorization: NVX {HASH} {'y' * PAD}"),
        [HASH]),
    "hash-in-long-request-line": (
        head(f"GET /v2/panel/gateways/email/list?hash={HASH}&pad={'z' * PAD} HTTP/1.1"),
        [HASH]),
    "long-webitel-key": (
        head("GET /api/v2/email/settings HTTP/1.1", f"X-Key: {WEBITEL_KEY}{'k' * PAD}"),
        [WEBITEL_KEY]),
    "long-webitel-token": (
        head("GET /api/v2/email/settings HTTP/1.1", f"X-Access-Token: {WEBITEL_TOKEN}{'.' * PAD}"),
        [JWT_SIGNATURE]),
    "bad-character-after-authorization": (
        head("POST /v2/panel/gateways/email/list HTTP/1.1", f"Authorization: NVX {HASH}\x01"),
        [HASH]),
    "bad-method-with-password": (  # logged at DEBUG, as the first request on a connection
        head(f"G\x01T /v2/panel/account/auth?login=x&password={PASSWORD} HTTP/1.1"),
        [PASSWORD]),
}


async def raw_exchange(client: TestClient, payload: bytes) -> bytes:
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def every_rendering(record: logging.LogRecord) -> str:
    """What any of the service's formatters (or a plain one) would write."""
    return "\n".join([record.getMessage(), logging.Formatter().format(record),
                      logs.JsonFormatter().format(record)])


@pytest.mark.parametrize("case", list(CASES))
async def test_unparsable_requests_leave_no_secret_in_any_log_line(
        client: TestClient, caplog: pytest.LogCaptureFixture, case: str) -> None:
    caplog.set_level(logging.DEBUG)
    payload, hidden = CASES[case]
    answer = await raw_exchange(client, payload)
    status = answer.split(b" ", 2)[1]
    assert status.startswith(b"4"), answer[:200]

    parser_errors = [record for record in caplog.records
                     if record.name == "aiohttp.server" and "Error handling request" in
                     record.getMessage()]
    assert parser_errors, "aiohttp logged nothing: the case tests nothing"
    for record in caplog.records:
        text = every_rendering(record)
        for secret in hidden:
            assert secret not in text, (record.name, text[:2000])
    logged = "\n".join(every_rendering(record) for record in parser_errors)
    assert "Got more than" in logged or "Invalid" in logged  # the reason is still there


def test_mask_library_logs_is_idempotent() -> None:
    logs.mask_library_logs()
    logs.mask_library_logs()
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(item, logs.SecretMaskFilter) for item in filters) == 1, name
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(item, logs.SecretMaskFilter) for item in handler.filters) == 1


@pytest.mark.parametrize(("text", "shown"), [
    ("bytearray(b'/v2/panel/account/auth?login=x&password=S3cret&pad=xx...')",
     "bytearray(b'/v2/panel/account/auth?login=x&password=***&pad=xx...')"),
    (f"b'Authorization: NVX {HASH}\\r\\nHost: a'", "b'Authorization: ***\\r\\nHost: a'"),
    (f"<CIMultiDict('X-Key': '{WEBITEL_KEY}', 'X-Access-Token': 'abc')>",
     "<CIMultiDict('X-Key': '***', 'X-Access-Token': '***')>"),
    (f"b'{HASH}{'a' * 50}...'", "b'***...'"),
    (f"{WEBITEL_TOKEN}', 'next'", "***', 'next'"),
    ('127.0.0.1 "GET /v2/panel/account/auth?login=d1&password=***" 200',
     '127.0.0.1 "GET /v2/panel/account/auth?login=d1&password=***" 200'),
    ("GET /v2/panel/x?x_key=k1&access_token=t1&token=t2&key=k2&Hash=h",
     "GET /v2/panel/x?x_key=***&access_token=***&token=***&key=***&Hash=***"),
    # A quote inside the value does not end the mask; one that closes the text does.
    ("password=***'rest", "password=***"),
    ("GET /v2/panel/account/auth?login=x&password=ab'cd\"ef&pad=1",
     "GET /v2/panel/account/auth?login=x&password=***&pad=1"),
    ("bytearray(b\"/v2/panel/account/auth?login=x&password=it's-me\")",
     "bytearray(b\"/v2/panel/account/auth?login=x&password=***\")"),
    # Percent-encoded names are the names a server decodes them to.
    ("GET /v2/panel/account/auth?login=x&pass%77ord=S3cret&h%61sh=abc&PASS%57ORD=s",
     "GET /v2/panel/account/auth?login=x&pass%77ord=***&h%61sh=***&PASS%57ORD=***"),
    ("GET /v2/panel/x?x%5Fkey=k1&%74oken=t1&keyboard=1",
     "GET /v2/panel/x?x%5Fkey=***&%74oken=***&keyboard=1"),
])
def test_mask_secrets(text: str, shown: str) -> None:
    assert logs.mask_secrets(text) == shown

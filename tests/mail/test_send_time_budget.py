"""A send finishes within the request time-out: SMTP time-outs longer than
what is left of it are cut, so a silent server is a send failure (Navixy 209,
Webitel 502), never the request cut off (code 6 / 500)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.smtp import scripted_peer, silent_server
from tests.support.webitel import DOMAIN, SETTINGS, webitel_login

REQUEST_TIMEOUT = 5
LONGEST = 600000  # ms: the largest time-outs the params allow


def quiet_after_greeting() -> AbstractContextManager[int]:
    return scripted_peer(b"220 quiet.example ESMTP\r\n")


PEERS = {"silent": silent_server, "quiet-after-greeting": quiet_after_greeting}


@pytest.fixture
async def short(make_client, db) -> Api:  # type: ignore[no-untyped-def]
    return Api(await make_client(request_timeout_seconds=REQUEST_TIMEOUT), db)


async def dealer_with_gateway(api: Api, port: int) -> tuple[str, tuple[str, str]]:
    dealer_id = await api.dealer("d1", domain=DOMAIN)
    gateway_id = await api.gateway(dealer_id, "slow relay", **{
        "mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
        "mail.smtp.connectiontimeout": LONGEST, "mail.smtp.timeout": LONGEST,
        "default_from_address": "relay@d1.example"})
    await api.bind(dealer_id, gateway_id)
    return await api.login("d1"), await webitel_login(api, "d1")


@pytest.fixture(params=list(PEERS))
def peer(request: pytest.FixtureRequest) -> Iterator[int]:
    with PEERS[request.param]() as port:
        yield port


async def test_navixy_answers_209_within_the_request_time_out(short: Api, peer: int) -> None:
    h, _ = await dealer_with_gateway(short, peer)
    started = time.monotonic()
    status, body = await short.call("gateways/email/send_email", hash=h,
                                    json={"to": "ops@example.org"})
    elapsed = time.monotonic() - started
    assert (status, body) == (400, {"success": False, "status": {
        "code": 209,
        "description": f"Failed sending email: 127.0.0.1:{peer} did not answer in time"}})
    assert REQUEST_TIMEOUT - 2 < elapsed < REQUEST_TIMEOUT + 3


async def test_webitel_answers_502_within_the_request_time_out(short: Api, peer: int) -> None:
    _, keys = await dealer_with_gateway(short, peer)
    started = time.monotonic()
    response = await short.client.post(f"{SETTINGS}/test/ops@example.org",
                                       headers={"X-Key": keys[0], "X-Access-Token": keys[1]})
    body: Any = await response.json()
    elapsed = time.monotonic() - started
    assert (response.status, body) == (502, {
        "status": "error",
        "info": f"Failed sending email: 127.0.0.1:{peer} did not answer in time"})
    assert REQUEST_TIMEOUT - 2 < elapsed < REQUEST_TIMEOUT + 3

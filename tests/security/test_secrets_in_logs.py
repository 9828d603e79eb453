"""No session hash, password or Authorization value in any log line."""

from __future__ import annotations

import logging

import pytest

from tests.support.api import PASSWORD, Api


async def test_hash_and_password_never_reach_the_log(api: Api,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.dealer("d1")
    # The documented, discouraged GET login puts the password in the query.
    body = await api.ok("account/auth", method="GET", query={"login": "d1", "password": PASSWORD})
    session_hash = body["hash"]
    await api.ok("gateways/email/list", method="GET", query={"hash": session_hash})
    await api.ok("gateways/email/list", form={"hash": session_hash})
    await api.ok("gateways/email/list", json={"hash": session_hash})
    await api.ok("gateways/email/list", hash=session_hash)
    await api.error("gateways/email/list", 4, 400, query={"hash": "f" * 32})
    await api.error("account/auth", 12, 400,
                    query={"login": "d1", "password": "wrong-" + PASSWORD})
    await api.ok("account/logout", query={"hash": session_hash})

    access_lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access_lines) == 8
    assert '"GET /v2/panel/gateways/email/list?hash=***"' in access_lines[1]
    assert 'login=d1&password=***"' in access_lines[0]
    everything = caplog.text + "\n".join(access_lines)
    for secret in (session_hash, "f" * 32, PASSWORD, "NVX"):
        assert secret not in everything


async def test_webitel_key_token_and_smtp_password_never_reach_the_log(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.dealer("d1", domain="d1.example")
    login = await (await api.client.post("/login", data={"username": "d1",
                                                         "password": PASSWORD})).json()
    key, token = login["key"], login["token"]
    smtp_password = "smtp-secret-9d1"
    response = await api.client.post("/api/v2/email/settings", headers={
        "X-Key": key, "X-Access-Token": token}, json={
        "provider": "smtp", "options": {"host": "mx.d1.example", "port": 587,
                                        "auth": {"user": "u", "pass": smtp_password}}})
    assert response.status == 200
    response = await api.client.get("/api/v2/email/settings",
                                    params={"x_key": key, "access_token": token})
    assert response.status == 200
    assert smtp_password not in await response.text()
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("x_key=***&access_token=***" in line for line in access), access
    for secret in (key, token, smtp_password, PASSWORD):
        assert secret not in caplog.text

"""`POST /api/v2/email/settings/test[/<to>]`: a test message through the domain's
settings, against a real aiosmtpd server."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.smtp import smtp_server
from tests.support.webitel import (
    DOMAIN,
    SEED_CREATE,
    SETTINGS,
    Webitel,
    dealer_session,
    relay_settings,
)


@pytest.mark.parametrize("to_in", ["path", "body"])
async def test_test_send_delivers(api: Api, webitel: Webitel, to_in: str) -> None:
    with smtp_server(starttls=True, auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth, json=relay_settings(server.port))
        if to_in == "path":
            status, body = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                              auth=auth, domain=DOMAIN)
        else:
            status, body = await webitel.call("POST", f"{SETTINGS}/test", auth=auth,
                                              domain=DOMAIN, json={"to": "ops@example.org"})
    assert status == 200, body
    [received] = server.messages
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.mail_from == "relay@d1.example"
    assert received.message["From"] == "relay@d1.example"
    assert received.message["To"] == "ops@example.org"
    assert body == {"status": "OK", "info": {"messageId": received.message["Message-ID"],
                                             "response": body["info"]["response"]}}
    assert isinstance(body["info"]["response"], str)
    assert "250" in body["info"]["response"]
    webitel.assert_no_secret()


async def test_test_send_auth_failure_is_502_with_the_reply_code(api: Api,
                                                                 webitel: Webitel) -> None:
    with smtp_server(starttls=True, auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth,
                           json=relay_settings(server.port, "wrong-password-99"))
        assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
            502, {"status": "error",
                  "info": "Failed sending email: the server refused the login (reply code 535)",
                  "code": 535})
    assert server.messages == []
    webitel.assert_no_secret()


async def test_test_send_without_settings_or_with_a_bad_address(api: Api,
                                                                webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
        404, {"status": "error", "info": f"Not settings EMail provider from domain {DOMAIN}"})
    await webitel.call("POST", auth=auth, json=SEED_CREATE)
    assert await webitel.call("POST", f"{SETTINGS}/test/not-an-address", auth=auth) == (
        400, {"status": "error", "info": "to: Not a valid email address."})
    assert await webitel.call("POST", f"{SETTINGS}/test", auth=auth) == (
        400, {"status": "error", "info": "to: Field may not be null."})

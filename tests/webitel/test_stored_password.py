"""Replacing Webitel email settings without the password: kept only for the same
destination (server, ports, TLS, user); a changed one needs the password again."""

from __future__ import annotations

import pytest

from tests.support.api import Api, stored
from tests.support.smtp import USER as SMTP_USER
from tests.support.smtp import smtp_server
from tests.support.webitel import (
    PASSWORD_REFUSAL,
    SETTINGS,
    Webitel,
    bound,
    dealer_session,
    relay_settings,
)


@pytest.mark.parametrize("how", ["put-null", "post-null", "put-back-what-get-gave"])
async def test_replace_without_password_keeps_it_for_the_same_destination(
        api: Api, webitel: Webitel, how: str) -> None:
    with smtp_server(starttls=True, auth=True) as server:
        _, auth = await dealer_session(api)
        status, created = await webitel.call("POST", auth=auth,
                                             json=relay_settings(server.port))
        assert status == 200, created
        [before] = await stored(api)
        if how == "put-back-what-get-gave":
            status, document = await webitel.call("GET", auth=auth)
            assert status == 200
            assert document["options"]["auth"] == {"user": SMTP_USER, "pass": None}
            document["description"] = "Renamed"
            replaced = await webitel.call("PUT", auth=auth, json=document)
        else:
            body = relay_settings(server.port, None, description="Renamed")
            replaced = await webitel.call("PUT" if how == "put-null" else "POST", auth=auth,
                                          json=body)
        assert replaced == (200, {**created, "description": "Renamed"})
        [after] = await stored(api)
        assert bytes(after.password_encrypted) == bytes(before.password_encrypted)
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    assert len(server.messages) == 1
    webitel.assert_no_secret()


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_changed_host_without_password_is_refused(api: Api, webitel: Webitel,
                                                        method: str) -> None:
    with smtp_server(starttls=True, auth=True) as server:
        dealer_id, auth = await dealer_session(api)
        assert (await webitel.call("POST", auth=auth, json=relay_settings(server.port)))[0] == 200
        before = await stored(api)
        body = relay_settings(server.port, None, host="localhost")
        assert await webitel.call(method, auth=auth, json=body) == (400, PASSWORD_REFUSAL)
        assert await stored(api) == before
        assert await bound(api, dealer_id) == before[0].id
        # The kept password still works where it was entered for.
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    assert len(server.messages) == 1
    webitel.assert_no_secret()


async def test_changed_host_with_a_new_password_is_accepted(api: Api, webitel: Webitel) -> None:
    with smtp_server(starttls=True, auth=True) as server:
        _, auth = await dealer_session(api)
        await webitel.call("POST", auth=auth, json=relay_settings(1, "old-password-1"))
        status, body = await webitel.call("PUT", auth=auth, json=relay_settings(server.port))
        assert (status, body["options"]["port"]) == (200, server.port)
        status, sent = await webitel.call("POST", f"{SETTINGS}/test/ops@example.org",
                                          auth=auth)
        assert status == 200, sent
    webitel.assert_no_secret()

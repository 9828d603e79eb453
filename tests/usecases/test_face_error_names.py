"""Each face names a refused field in its own words: one domain refusal, two wire forms.

The use cases raise domain errors naming the domain's fields (`mail.smtp.password`,
`email_from`); the Navixy face answers with its parameter path, the Webitel face
with the field its client wrote.
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, stored
from tests.support.smtp import smtp_server
from tests.support.webitel import DOMAIN, SETTINGS, Webitel, dealer_session, relay_settings

REENTER = "Enter the password again: the server, ports, TLS settings or user changed."
NO_SENDER = ("No sender address: set the gateway's default_from_address or the dealer's "
             "email_from.")


async def test_password_required_names_each_faces_field(api: Api) -> None:
    webitel = Webitel(api)
    with smtp_server(auth=True) as server:
        dealer_id, auth = await dealer_session(api)
        assert (await webitel.call("POST", auth=auth, json=relay_settings(server.port)))[0] == 200
        before = await stored(api)
        moved = relay_settings(server.port, None, host="localhost")
        assert await webitel.call("PUT", auth=auth, json=moved) == (
            400, {"status": "error", "info": f"options.auth.pass: {REENTER}"})
        # The same refusal through the Navixy face names its parameter path.
        h = await api.login("d1")
        gateway = (await api.ok("gateways/email/list", hash=h))["own"][0]
        gateway["params"]["mail.smtp.host"] = "localhost"
        body = await api.error("gateways/email/update", 7, 400, hash=h, json={"gateway": gateway})
        assert body["errors"] == [{"parameter": "gateway.params.mail.smtp.password",
                                   "error": REENTER}]
    assert await stored(api) == before


def _without_sender(port: int) -> dict[str, Any]:
    settings = relay_settings(port)
    settings["from"] = None
    return settings


async def test_missing_sender_names_from_on_webitel_and_email_from_on_navixy(api: Api) -> None:
    webitel = Webitel(api)
    with smtp_server(auth=True) as server:
        _, auth = await dealer_session(api)
        assert (await webitel.call("POST", auth=auth, json=_without_sender(server.port)))[0] == 200
        assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth,
                                  domain=DOMAIN) == (
            400, {"status": "error", "info": f"from: {NO_SENDER}"})
        h = await api.login("d1")
        body = await api.error("gateways/email/send_email", 7, 400, hash=h,
                               form={"to": "ops@example.org"})
        assert body["errors"] == [{"parameter": "email_from", "error": NO_SENDER}]
    assert server.messages == []

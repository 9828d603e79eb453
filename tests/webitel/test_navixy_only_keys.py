"""Keys only the Navixy face has (`mail.smtp.auth.mechanisms`) survive a Webitel save:
Webitel's document has no word for them, so a PUT keeps what is stored."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.webitel import DOMAIN, SEED_CREATE, SEED_UPDATE, Webitel, dealer_session

MECHANISMS = "mail.smtp.auth.mechanisms"


async def test_webitel_put_keeps_the_mechanisms(api: Api, webitel: Webitel) -> None:
    _dealer_id, auth = await dealer_session(api)
    status, body = await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_CREATE)
    assert status == 200
    h = await api.login("d1")
    [own] = (await webitel.navixy_list(h))["own"]
    await api.ok("gateways/email/update", hash=h, json={"gateway": {
        "id": own["id"], "label": own["label"], "provider": "smtp", "leasable": False,
        "params": {**own["params"], MECHANISMS: "LOGIN"}}})

    status, body = await webitel.call("PUT", auth=auth, domain=DOMAIN, json=SEED_UPDATE)
    assert (status, body["description"], "mechanisms" in str(body)) == (
        200, "My updated setting", False)
    [own] = (await webitel.navixy_list(h))["own"]
    assert (own["label"], own["params"][MECHANISMS]) == ("My updated setting", "LOGIN")

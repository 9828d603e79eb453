"""Numbers given as strings take the ASCII digits 0-9 only (issue 11, 9b).

`\\d` and int() also read other scripts' digits, so "٢٥" (Arabic-Indic) was port
25 and "١" was gateway 1. Each is now code 7 / 400 naming the field, and
nothing changes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import PASSWORD, Api, relay_gateway

SETTINGS = "/api/v2/email/settings"
# 25, 465 and 1 in Arabic-Indic, Extended Arabic-Indic, Devanagari and full-width digits,
# and ASCII digits followed by a no-break space (int() strips Unicode spaces too).
NOT_ASCII = {"٢٥": "٤٦٥", "۲۵": "۴۶۵", "२५": "४६५", "２５": "４６５", "25\u00a0": "465\u00a0"}
ONE = ["١", "۱", "१", "１", "1\u00a0"]


async def setup(api: Api) -> tuple[str, int]:
    """d1 with its own gateway, id 1 (what "١" used to read as), not bound."""
    dealer_id = await api.dealer("d1", domain="d1.example")
    gateway_id = await api.gateway(dealer_id, "mine")
    assert gateway_id == 1
    return await api.login("d1"), gateway_id


@pytest.mark.parametrize(("port", "ssl_port"), NOT_ASCII.items())
@pytest.mark.parametrize("as_form", [False, True])
async def test_navixy_ports(api: Api, port: str, ssl_port: str, as_form: bool) -> None:
    h, gateway_id = await setup(api)
    before = await api.snapshot()
    cases = [(relay_gateway(**{"mail.smtp.port": port}), "gateway.params.mail.smtp.port"),
             (relay_gateway(**{"mail.smtp.ssl.port": ssl_port}),
              "gateway.params.mail.smtp.ssl.port"),
             (relay_gateway(**{"mail.smtp.timeout": port + "000"}),
              "gateway.params.mail.smtp.timeout")]
    for value, parameter in cases:
        for action, sent in (("gateways/email/create", value),
                             ("gateways/email/update", value | {"id": gateway_id})):
            kwargs: dict[str, Any] = ({"form": {"gateway": json.dumps(sent)}} if as_form
                                      else {"json": {"gateway": sent}})
            body = await api.error(action, 7, 400, hash=h, **kwargs)
            assert [e["parameter"] for e in body["errors"]] == [parameter], body
    assert await api.snapshot() == before
    # ASCII digit strings are still numbers.
    await api.ok("gateways/email/create", hash=h,
                 form={"gateway": json.dumps(relay_gateway(**{"mail.smtp.port": " 25 "}))})


@pytest.mark.parametrize("one", ONE)
async def test_navixy_ids(api: Api, one: str) -> None:
    h, gateway_id = await setup(api)
    before = await api.snapshot()
    for action in ("gateways/email/bind", "gateways/email/delete"):
        for kwargs in ({"form": {"gateway_id": one}}, {"json": {"gateway_id": one}},
                       {"query": {"gateway_id": one}}):
            body = await api.error(action, 7, 400, hash=h, **kwargs)
            assert [e["parameter"] for e in body["errors"]] == ["gateway_id"], body
    body = await api.error("gateways/email/send_email", 7, 400, hash=h,
                           form={"to": "someone@d1.example", "gateway_id": one})
    assert [e["parameter"] for e in body["errors"]] == ["gateway_id"], body
    body = await api.error("gateways/email/update", 7, 400, hash=h,
                           form={"gateway": json.dumps(relay_gateway() | {"id": one})})
    assert [e["parameter"] for e in body["errors"]] == ["gateway.id"], body
    body = await api.error("gateways/email/audit", 7, 400, hash=h,
                           form={"limit": one, "offset": one})
    assert [e["parameter"] for e in body["errors"]] == ["limit", "offset"], body
    assert await api.snapshot() == before
    await api.ok("gateways/email/bind", hash=h, form={"gateway_id": str(gateway_id)})


@pytest.mark.parametrize(("port", "ssl_port"), NOT_ASCII.items())
async def test_webitel_port(api: Api, port: str, ssl_port: str) -> None:
    await api.dealer("d1", domain="d1.example")
    response = await api.client.post("/login", json={"username": "d1", "password": PASSWORD})
    login = await response.json()
    headers = {"X-Key": login["key"], "X-Access-Token": login["token"]}

    async def send(method: str, options: dict[str, Any]) -> tuple[int, Any]:
        document = {"provider": "smtp", "options": {"host": "smtp.example.com", **options}}
        response = await api.client.request(method, SETTINGS, json=document, headers=headers)
        return response.status, await response.json()

    before = await api.snapshot()
    for options in ({"port": port, "secure": False}, {"port": ssl_port, "secure": True}):
        status, body = await send("POST", options)
        assert status == 400 and body["status"] == "error", body
        assert body["info"].startswith("options.port: "), body
    assert await api.snapshot() == before
    # With settings in place, a replacement is refused the same way and changes nothing.
    assert (await send("POST", {"port": "587"}))[0] == 200
    before = await api.snapshot()
    for method in ("PUT", "POST"):
        status, body = await send(method, {"port": port})
        assert status == 400 and body["info"].startswith("options.port: "), body
    assert await api.snapshot() == before

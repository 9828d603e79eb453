"""gateways/email/list: own gateways with every param, the parent's leasable ones only."""

from __future__ import annotations

from tests.support.api import Api, dealer_tree

ALL_KEYS = [
    "default_from_address", "mail.smtp.user", "mail.smtp.password", "mail.smtp.host",
    "mail.smtp.port", "mail.smtp.ssl.port", "mail.smtp.ssl.trust_all_hosts", "mail.smtp.auth",
    "mail.debug", "mail.smtp.starttls.enable", "mail.smtp.starttls.required",
    "mail.smtp.use_ssl", "mail.smtp.timeout", "mail.smtp.connectiontimeout",
    "mail.transport.protocol",
]


async def listed_family(api: Api) -> dict[str, int]:
    """grandparent → parent → (child, sibling), each with gateways of both kinds."""
    ids = await dealer_tree(api)
    ids["parent_private"] = await api.gateway(ids["parent"], "parent private",
                                              **{"mail.smtp.auth": True,
                                                 "mail.smtp.user": "parent-user"})
    ids["parent_leasable_1"] = await api.gateway(
        ids["parent"], "relay one", leasable=True, provider="mandrill_smtp",
        **{"default_from_address": "no-reply@parent.example", "mail.smtp.user": "secret-user"})
    ids["parent_leasable_2"] = await api.gateway(ids["parent"], "relay two", leasable=True)
    ids["sibling_own"] = await api.gateway(ids["sibling"], "sibling own", leasable=True)
    ids["child_own"] = await api.gateway(ids["child"], "child own")
    return ids


async def test_sub_dealer_sees_exactly_its_parents_leasable_gateways(api: Api) -> None:
    ids = await listed_family(api)
    await api.bind(ids["child"], ids["parent_leasable_2"])
    body = await api.ok("gateways/email/list", hash=await api.login("child"))
    assert body["bound_gateway"] == ids["parent_leasable_2"]
    assert body["leasable"] == [
        {"id": ids["parent_leasable_1"], "label": "relay one", "provider": "mandrill_smtp",
         "default_from_address": "no-reply@parent.example"},
        # No sender address: omitted, as Navixy omits null fields.
        {"id": ids["parent_leasable_2"], "label": "relay two", "provider": "smtp"},
    ]
    assert [g["id"] for g in body["own"]] == [ids["child_own"]]
    text = str(body)
    assert "secret-user" not in text and "parent private" not in text
    assert "sibling own" not in text and "grand relay" not in text


async def test_owner_sees_its_own_gateways_with_every_key(api: Api) -> None:
    ids = await listed_family(api)
    body = await api.ok("gateways/email/list", hash=await api.login("parent"))
    assert body["bound_gateway"] is None
    assert [g["id"] for g in body["own"]] == [ids["parent_private"], ids["parent_leasable_1"],
                                             ids["parent_leasable_2"]]
    private = body["own"][0]
    assert private == {
        "id": ids["parent_private"], "leasable": False, "label": "parent private",
        "provider": "smtp",
        "params": {
            "default_from_address": None, "mail.smtp.user": "parent-user",
            "mail.smtp.password": None, "mail.smtp.host": "smtp.example.com",
            "mail.smtp.port": 25, "mail.smtp.ssl.port": 465,
            "mail.smtp.ssl.trust_all_hosts": False, "mail.smtp.auth": True,
            "mail.debug": False, "mail.smtp.starttls.enable": False,
            "mail.smtp.starttls.required": False, "mail.smtp.use_ssl": False,
            "mail.smtp.timeout": 60000, "mail.smtp.connectiontimeout": 60000,
            "mail.transport.protocol": "smtp",
        },
    }
    for gateway in body["own"]:
        assert list(gateway["params"]) == ALL_KEYS
        assert gateway["params"]["mail.smtp.password"] is None
    # The parent leases from the grandparent.
    assert [g["id"] for g in body["leasable"]] == [ids["grand_leasable"]]


async def test_top_level_dealer_gets_an_empty_leasable_list(api: Api) -> None:
    ids = await listed_family(api)
    body = await api.ok("gateways/email/list", hash=await api.login("grand"))
    assert body["leasable"] == []
    assert [g["id"] for g in body["own"]] == [ids["grand_leasable"]]


async def test_dealer_without_gateways_gets_empty_arrays(api: Api) -> None:
    await api.dealer("lonely")
    assert await api.ok("gateways/email/list", hash=await api.login("lonely")) == {
        "success": True, "bound_gateway": None, "own": [], "leasable": []}

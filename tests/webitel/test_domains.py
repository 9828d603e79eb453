"""Which domains a Webitel caller may act on (`?domain=`: its own, its descendants'),
and what each email_gateways permission allows."""

from __future__ import annotations

from tests.support.api import Api, stored
from tests.support.webitel import (
    NOT_FOUND_GET,
    PERMISSION_DENIED,
    SEED_CREATE,
    SEED_UPDATE,
    SETTINGS,
    Webitel,
    bound,
    dealer_session,
    seed_document,
    webitel_login,
)


async def test_no_domain_parameter_uses_the_callers_domain(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    status, body = await webitel.call("POST", auth=auth, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert await webitel.call("GET", auth=auth, domain="MY.WEBITEL.COM") == (
        200, seed_document(row.id, "My Setting"))


async def test_dealer_without_domain_must_name_one(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api, domain=None)
    required = (400, {"status": "error", "info": "Bad request (domain required)."})
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert await webitel.call(method, auth=auth, json=SEED_CREATE) == required
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == required
    assert await stored(api) == []


async def test_sibling_and_unknown_domains_are_denied_alike(api: Api, webitel: Webitel) -> None:
    await api.dealer("parent", domain="parent.example")
    sibling_id = await api.dealer("sibling", parent="parent", domain="sibling.example")
    gateway_id = await api.gateway(sibling_id, "sibling's")
    await api.bind(sibling_id, gateway_id)
    _, auth = await dealer_session(api, parent="parent")
    for domain in ("sibling.example", "nowhere.example"):
        assert await webitel.call("GET", auth=auth, domain=domain) == (403, PERMISSION_DENIED)
        assert await webitel.call("POST", auth=auth, domain=domain, json=SEED_CREATE) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("PUT", auth=auth, domain=domain, json=SEED_CREATE) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("DELETE", auth=auth, domain=domain) == (
            403, PERMISSION_DENIED)
        assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth,
                                  domain=domain) == (403, PERMISSION_DENIED)
    assert [(row.id, row.label) for row in await stored(api)] == [(gateway_id, "sibling's")]
    assert await bound(api, sibling_id) == gateway_id


async def test_parent_acts_on_child_and_grandchild_domains(api: Api, webitel: Webitel) -> None:
    await api.dealer("parent", domain="parent.example")
    child_id = await api.dealer("child", parent="parent", domain="child.example")
    grandchild_id = await api.dealer("grandchild", parent="child",
                                     domain="grandchild.example")
    parent = await webitel_login(api, "parent")
    for dealer_id, domain in ((child_id, "child.example"),
                              (grandchild_id, "grandchild.example")):
        assert await webitel.call("GET", auth=parent, domain=domain) == (404, NOT_FOUND_GET)
        status, body = await webitel.call("POST", auth=parent, domain=domain, json=SEED_CREATE)
        gateway_id = await bound(api, dealer_id)
        assert gateway_id is not None
        assert (status, body) == (200, {**seed_document(gateway_id, "My Setting"),
                                        "domain": domain})
        [owner] = await api.sql("SELECT owner_id FROM email_gateways WHERE id = :id",
                                id=gateway_id)
        assert owner.owner_id == dealer_id
        assert await webitel.call("GET", auth=parent, domain=domain) == (200, body)
    # The parent's own domain is untouched.
    assert await webitel.call("GET", auth=parent) == (404, NOT_FOUND_GET)
    # The child reaches its own child too, but not its parent.
    child = await webitel_login(api, "child")
    assert (await webitel.call("GET", auth=child, domain="grandchild.example"))[0] == 200
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert await webitel.call(method, auth=child, domain="parent.example",
                                  json=SEED_CREATE) == (403, PERMISSION_DENIED)
    grandchild = await webitel_login(api, "grandchild")
    assert await webitel.call("GET", auth=grandchild, domain="child.example") == (
        403, PERMISSION_DENIED)
    webitel.assert_no_secret()


async def test_read_only_dealer(api: Api, webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api, permissions={"email_gateways": ["read"]})
    gateway_id = await api.gateway(dealer_id, "relay", **{"mail.smtp.host": "relay.example"})
    await api.bind(dealer_id, gateway_id)
    before = await stored(api)
    status, body = await webitel.call("GET", auth=auth)
    assert (status, body["_id"]) == (200, str(gateway_id))
    assert await webitel.call("POST", auth=auth, json=SEED_CREATE) == (403, PERMISSION_DENIED)
    assert await webitel.call("PUT", auth=auth, json=SEED_CREATE) == (403, PERMISSION_DENIED)
    assert await webitel.call("DELETE", auth=auth) == (403, PERMISSION_DENIED)
    assert await webitel.call("POST", f"{SETTINGS}/test/ops@example.org", auth=auth) == (
        403, PERMISSION_DENIED)
    assert await webitel.call("POST", f"{SETTINGS}/test", auth=auth,
                              json={"to": "ops@example.org"}) == (403, PERMISSION_DENIED)
    assert await stored(api) == before
    assert await bound(api, dealer_id) == gateway_id


async def test_without_read_permission_get_is_denied(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api, permissions={"email_gateways": ["create"]})
    assert await webitel.call("GET", auth=auth) == (403, PERMISSION_DENIED)


async def test_create_only_dealer_creates_but_cannot_replace(api: Api,
                                                             webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api, permissions={"email_gateways": ["create"]})
    status, body = await webitel.call("POST", auth=auth, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert await bound(api, dealer_id) == row.id
    assert await webitel.call("POST", auth=auth, json=SEED_UPDATE) == (403, PERMISSION_DENIED)
    assert await stored(api) == [row]
    webitel.assert_no_secret()

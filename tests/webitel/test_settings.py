"""The Webitel face's email settings, `/api/v2/email/settings`: the seed document's
requests in order (GET, POST as upsert, PUT, DELETE), and gateways made through the
Navixy face read back through this one, field by field.

Statuses and whole bodies are asserted; every response text is recorded, and no
test lets a stored SMTP password (or a dealer password) appear in any of them.
"""

from __future__ import annotations

from tests.support.api import Api, stored
from tests.support.webitel import (
    DOMAIN,
    NAVIXY_PASS,
    NOT_FOUND_GET,
    NOT_FOUND_PUT,
    SEED_CREATE,
    SEED_UPDATE,
    Webitel,
    bound,
    dealer_session,
    seed_document,
    webitel_login,
)


async def test_seed_requests_in_order(api: Api, webitel: Webitel) -> None:
    dealer_id, auth = await dealer_session(api)

    status, body = await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_CREATE)
    [row] = await stored(api)
    assert (status, body) == (200, seed_document(row.id, "My Setting"))
    assert (row.owner_id, row.label, row.leasable) == (dealer_id, "My Setting", False)
    assert await bound(api, dealer_id) == row.id

    # The same gateway through the Navixy face.
    h = await api.login("d1")
    assert await webitel.navixy_list(h) == {
        "success": True, "bound_gateway": row.id, "leasable": [],
        "own": [{"id": row.id, "leasable": False, "label": "My Setting", "provider": "smtp",
                 "params": {
                     "default_from_address": "my@webitel.com",
                     "mail.smtp.user": "my@webitel.com", "mail.smtp.password": None,
                     "mail.smtp.host": "m.webitel.com", "mail.smtp.port": 25,
                     "mail.smtp.ssl.port": 465, "mail.smtp.ssl.trust_all_hosts": True,
                     "mail.smtp.auth": True, "mail.debug": False,
                     "mail.smtp.starttls.enable": False,
                     "mail.smtp.starttls.required": False, "mail.smtp.use_ssl": True,
                     "mail.smtp.timeout": 60000, "mail.smtp.connectiontimeout": 60000,
                     "mail.transport.protocol": "smtp"}}]}

    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (
        200, seed_document(row.id, "My Setting"))
    assert await webitel.call("PUT", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        200, seed_document(row.id, "My updated setting"))
    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (
        200, seed_document(row.id, "My updated setting"))
    assert await webitel.call("DELETE", auth=auth, domain=DOMAIN) == (
        200, {"status": "OK", "Info": "Removed 1 record."})
    assert await stored(api) == []
    assert await bound(api, dealer_id) is None
    assert await webitel.call("DELETE", auth=auth, domain=DOMAIN) == (
        200, {"status": "OK", "Info": "Removed 0 record."})
    assert await webitel.call("PUT", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        404, NOT_FOUND_PUT)
    assert await webitel.call("GET", auth=auth, domain=DOMAIN) == (404, NOT_FOUND_GET)
    assert await stored(api) == []
    webitel.assert_no_secret()


async def test_post_replaces_existing_settings_in_place(api: Api, webitel: Webitel) -> None:
    """Webitel's POST is an upsert: the second one keeps the same gateway id."""
    dealer_id, auth = await dealer_session(api)
    await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_CREATE)
    [first] = await stored(api)
    assert await webitel.call("POST", auth=auth, domain=DOMAIN, json=SEED_UPDATE) == (
        200, seed_document(first.id, "My updated setting"))
    [second] = await stored(api)
    assert second.id == first.id
    assert await bound(api, dealer_id) == first.id
    webitel.assert_no_secret()


async def test_description_absent_labels_email_settings(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    body = {key: value for key, value in SEED_CREATE.items() if key != "description"}
    status, created = await webitel.call("POST", auth=auth, domain=DOMAIN, json=body)
    assert (status, created["description"]) == (200, "Email settings")
    assert [row.label for row in await stored(api)] == ["Email settings"]


async def test_navixy_gateway_reads_back_field_by_field(api: Api, webitel: Webitel) -> None:
    dealer_id = await api.dealer("d1", domain=DOMAIN)
    h = await api.login("d1")
    gateway = {"label": "Fleet relay", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": "smtp.fleet.example", "mail.smtp.port": 587,
                          "mail.smtp.starttls.enable": True, "mail.smtp.use_ssl": False,
                          "mail.smtp.ssl.trust_all_hosts": False, "mail.smtp.auth": True,
                          "mail.smtp.user": "fleet-user", "mail.smtp.password": NAVIXY_PASS,
                          "mail.debug": True, "default_from_address": "fleet@fleet.example"}}
    gateway_id = (await api.ok("gateways/email/create", hash=h, json={"gateway": gateway}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    assert await bound(api, dealer_id) == gateway_id

    status, body = await webitel.call("GET", auth=await webitel_login(api, "d1"),
                                      domain=DOMAIN)
    assert status == 200
    options = body["options"]
    assert body["_id"] == str(gateway_id)
    assert body["provider"] == "smtp"
    assert body["description"] == "Fleet relay"
    assert body["from"] == "fleet@fleet.example"
    assert options["host"] == "smtp.fleet.example"
    assert options["port"] == 587
    assert options["secure"] is False
    assert options["debug"] is True
    assert options["tls"] == {"rejectUnauthorized": True}
    assert options["auth"] == {"user": "fleet-user", "pass": None}
    assert body["domain"] == DOMAIN
    assert set(body) == {"_id", "provider", "description", "from", "options", "domain"}
    assert set(options) == {"host", "port", "secure", "debug", "tls", "auth"}
    webitel.assert_no_secret()


async def test_navixy_gateway_with_auth_off_reads_auth_null(api: Api, webitel: Webitel) -> None:
    dealer_id = await api.dealer("d1", domain=DOMAIN)
    gateway_id = await api.gateway(dealer_id, "Plain relay", **{
        "mail.smtp.host": "relay.example", "mail.smtp.port": 2525,
        "mail.smtp.ssl.trust_all_hosts": True})
    await api.bind(dealer_id, gateway_id)
    assert await webitel.call("GET", auth=await webitel_login(api, "d1"), domain=DOMAIN) == (
        200, {"_id": str(gateway_id), "provider": "smtp", "description": "Plain relay",
              "from": None,
              "options": {"host": "relay.example", "port": 2525, "secure": False,
                          "debug": False, "tls": {"rejectUnauthorized": False},
                          "auth": None},
              "domain": DOMAIN})


async def test_unbound_or_leased_gateway_is_not_the_domains_settings(
        api: Api, webitel: Webitel) -> None:
    """Only the bound *own* gateway counts: an unbound own gateway and the parent's
    leased one are not the child's settings, and DELETE leaves them alone."""
    parent_id = await api.dealer("parent", domain="parent.example")
    leased = await api.gateway(parent_id, "parent relay", leasable=True)
    child_id = await api.dealer("child", parent="parent", domain="child.example")
    await api.gateway(child_id, "unbound")
    await api.bind(child_id, leased)
    auth = await webitel_login(api, "child")
    assert await webitel.call("GET", auth=auth) == (404, NOT_FOUND_GET)
    assert await webitel.call("PUT", auth=auth, json=SEED_CREATE) == (404, NOT_FOUND_PUT)
    assert await webitel.call("DELETE", auth=auth) == (
        200, {"status": "OK", "Info": "Removed 0 record."})
    assert [row.label for row in await stored(api)] == ["parent relay", "unbound"]
    assert await bound(api, child_id) == leased


async def test_delete_of_a_gateway_sub_dealers_use_is_409(api: Api, webitel: Webitel) -> None:
    parent_id = await api.dealer("parent", domain="parent.example")
    relay = await api.gateway(parent_id, "shared", leasable=True)
    await api.bind(parent_id, relay)
    child_id = await api.dealer("child", parent="parent")
    await api.bind(child_id, relay)
    auth = await webitel_login(api, "parent")
    assert await webitel.call("DELETE", auth=auth) == (
        409, {"status": "error", "info": "Conflict: sub-dealers are bound to this gateway"})
    assert [row.id for row in await stored(api)] == [relay]
    assert await bound(api, child_id) == relay

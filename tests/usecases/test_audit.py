"""The audit trail: every change to a gateway, a binding or the sender identity."""

from __future__ import annotations

import json

from tests.support.api import Api
from tests.support.smtp import PASSWORD


async def test_changes_are_recorded_newest_first_without_secrets(api: Api) -> None:
    await api.dealer("d1", domain="d1.example")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp",
               "params": {"mail.smtp.host": "smtp.example", "mail.smtp.auth": True,
                          "mail.smtp.user": "u", "mail.smtp.password": PASSWORD}}
    gateway_id = (await api.ok("gateways/email/create", hash=h,
                               form={"gateway": json.dumps(gateway)}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    gateway.update(id=gateway_id, label="renamed")
    gateway["params"].update({"mail.smtp.port": 587, "mail.smtp.password": "new-" + PASSWORD})
    await api.ok("gateways/email/update", hash=h, json={"gateway": gateway})
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "a@d1.example"})
    await api.ok("gateways/email/delete", hash=h, json={"gateway_id": gateway_id})

    body = await api.ok("gateways/email/audit", hash=h)
    assert body["count"] == 5
    entries = body["list"]
    assert [e["action"] for e in entries] == [
        "gateway.delete", "sender.update", "gateway.update", "gateway.bind", "gateway.create"]
    assert all(e["actor"] == "d1" and e["face"] == "navixy" for e in entries)
    assert all(e["client_address"] == "127.0.0.1" for e in entries)
    delete, sender, update, bind, create = entries
    assert delete["changes"] == {"label": ["renamed", None], "bound_gateway": [gateway_id, None]}
    assert sender["changes"] == {"email_from": [None, "a@d1.example"]}
    assert update["changes"] == {"label": ["relay", "renamed"], "mail.smtp.port": [25, 587],
                                 "mail.smtp.password": "changed"}
    assert bind["changes"] == {"bound_gateway": [None, gateway_id]}
    assert create["gateway_id"] == gateway_id
    assert create["changes"]["mail.smtp.password"] == "set"
    assert create["changes"]["mail.smtp.host"] == [None, "smtp.example"]
    assert PASSWORD not in json.dumps(body)
    stored = await api.sql("SELECT changes::text AS c FROM audit_events")
    assert all(PASSWORD not in row.c for row in stored)

    page = await api.ok("gateways/email/audit", hash=h, json={"limit": 2, "offset": 1})
    assert [e["action"] for e in page["list"]] == ["sender.update", "gateway.update"]
    assert page["count"] == 5


async def test_a_save_that_changes_nothing_records_nothing(api: Api) -> None:
    await api.dealer("d1", domain="d1.example")
    h = await api.login("d1")
    gateway = {"label": "relay", "provider": "smtp", "leasable": False,
               "params": {"mail.smtp.host": "smtp.example", "mail.smtp.auth": True,
                          "mail.smtp.user": "u", "mail.smtp.password": PASSWORD}}
    gateway_id = (await api.ok("gateways/email/create", hash=h, json={"gateway": gateway}))["id"]
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    identity = {"email_from": "Fleet <a@d1.example>", "email_footer": "-- d1"}
    await api.ok("dealer/settings/notification/email/update", hash=h, json=identity)
    assert (await api.ok("gateways/email/audit", hash=h))["count"] == 3

    # the same again, as the admin panel saves its form: the password kept (null)
    unchanged = {**gateway, "id": gateway_id,
                 "params": {**gateway["params"], "mail.smtp.password": None}}
    await api.ok("gateways/email/update", hash=h, json={"gateway": unchanged})
    await api.ok("gateways/email/bind", hash=h, json={"gateway_id": gateway_id})
    await api.ok("dealer/settings/notification/email/update", hash=h, json=identity)
    body = await api.ok("gateways/email/audit", hash=h)
    assert [e["action"] for e in body["list"]] == [
        "sender.update", "gateway.bind", "gateway.create"]
    assert body["count"] == 3

    # and a real change after them is recorded as before
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={**identity, "email_footer": "-- d1 fleet"})
    body = await api.ok("gateways/email/audit", hash=h, json={"limit": 1})
    assert (body["count"], body["list"][0]["changes"]) == (
        4, {"email_footer": ["-- d1", "-- d1 fleet"]})


async def test_webitel_changes_and_visibility(api: Api) -> None:
    await api.dealer("d1", domain="d1.example")
    await api.dealer("other")
    login = await (await api.client.post("/login", json={
        "username": "d1", "password": "correct horse battery staple"})).json()
    response = await api.client.post("/api/v2/email/settings", headers={
        "X-Key": login["key"], "X-Access-Token": login["token"]}, json={
        "provider": "smtp", "options": {"host": "mx.d1.example", "port": 465, "secure": True}})
    assert response.status == 200
    body = await api.ok("gateways/email/audit", hash=await api.login("d1"))
    assert [(e["action"], e["face"]) for e in body["list"]] == [
        ("gateway.bind", "webitel"), ("gateway.create", "webitel")]
    # Another dealer's trail is its own.
    assert await api.ok("gateways/email/audit", hash=await api.login("other")) == {
        "success": True, "list": [], "count": 0}


async def test_audit_needs_read_permission_and_valid_paging(api: Api) -> None:
    await api.dealer("d1", permissions={"email_gateways": ["create"]})
    await api.error("gateways/email/audit", 13, 403, hash=await api.login("d1"))
    await api.dealer("d2")
    body = await api.error("gateways/email/audit", 7, 400, hash=await api.login("d2"),
                           json={"limit": 0, "offset": -1})
    assert [e["parameter"] for e in body["errors"]] == ["limit", "offset"]

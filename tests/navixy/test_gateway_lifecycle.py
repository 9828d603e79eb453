"""The admin panel's sequence and the plain lifecycle of a gateway."""

from __future__ import annotations

import json
from typing import Any

from tests.support.api import Api
from tests.support.smtp import PASSWORD, USER, smtp_server


def panel_gateway(port: int, **params: Any) -> dict[str, Any]:
    """What Navixy's admin panel builds in Settings.js (create deletes `id`)."""
    return {"label": "Custom smtp", "provider": "smtp", "leasable": False,
            "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                       "mail.smtp.auth": True, "mail.smtp.user": USER,
                       "mail.smtp.password": PASSWORD, "mail.smtp.use_ssl": False,
                       "mail.smtp.starttls.enable": False,
                       "mail.smtp.ssl.trust_all_hosts": False,
                       "default_from_address": None, **params}}


async def test_admin_panel_sequence(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    with smtp_server(auth=True) as server:
        created = await api.ok("gateways/email/create",
                               form={"hash": session_hash,
                                     "gateway": json.dumps(panel_gateway(server.port))})
        gateway_id = created["id"]
        assert created == {"success": True, "id": gateway_id}
        assert await api.ok("gateways/email/bind", form={"hash": session_hash,
                                                         "gateway_id": str(gateway_id)}) == {
            "success": True}
        await api.ok("dealer/settings/notification/email/update",
                     form={"hash": session_hash, "email_from": "alerts@d1.example",
                           "email_footer": "-- d1 fleet"})
        listed = await api.ok("gateways/email/list", form={"hash": session_hash})
        assert listed["bound_gateway"] == gateway_id
        own = listed["own"][0]
        assert own["params"]["mail.smtp.password"] is None
        assert own["params"]["mail.smtp.user"] == USER
        # The panel re-sends the whole object as list returned it: password null.
        own["label"] = "Renamed"
        await api.ok("gateways/email/update", form={"hash": session_hash,
                                                    "gateway": json.dumps(own)})
        await api.ok("gateways/email/send_email", form={"hash": session_hash,
                                                        "to": "ops@example.org"})
        assert len(server.messages) == 1  # AUTH passed with the stored password
        received = server.messages[0]
        assert received.mail_from == "alerts@d1.example"
        assert received.rcpt_tos == ["ops@example.org"]
        assert received.message["From"] == "alerts@d1.example"
        assert received.message["To"] == "ops@example.org"
        assert received.message.get_payload().rstrip().endswith("-- d1 fleet")
    listed = await api.ok("gateways/email/list", hash=session_hash)
    assert listed["own"][0]["label"] == "Renamed"


async def test_notification_email_settings(api: Api) -> None:
    await api.dealer("d1")
    h = await api.login("d1")
    assert await api.ok("dealer/settings/notification/email/read", hash=h) == {
        "success": True, "email_from": None, "email_footer": None}
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "a@b.example", "email_footer": "bye"})
    assert await api.ok("dealer/settings/notification/email/read", hash=h) == {
        "success": True, "email_from": "a@b.example", "email_footer": "bye"}
    # update replaces both: an absent footer clears it
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "c@d.example"})
    assert await api.ok("dealer/settings/notification/email/read", hash=h) == {
        "success": True, "email_from": "c@d.example", "email_footer": None}


async def test_delete_own_bound_gateway_unbinds(api: Api) -> None:
    dealer = await api.dealer("d1")
    gateway = await api.gateway(dealer)
    await api.bind(dealer, gateway)
    h = await api.login("d1")
    await api.ok("gateways/email/delete", hash=h, json={"gateway_id": gateway})
    assert await api.ok("gateways/email/list", hash=h) == {
        "success": True, "bound_gateway": None, "own": [], "leasable": []}


async def test_every_action_checks_its_permission(api: Api) -> None:
    needs = {
        "gateways/email/list": ("email_gateways", "read"),
        "gateways/email/create": ("email_gateways", "create"),
        "gateways/email/update": ("email_gateways", "update"),
        "gateways/email/delete": ("email_gateways", "delete"),
        "gateways/email/bind": ("email_gateways", "update"),
        "gateways/email/send_email": ("email_gateways", "send_email"),
        "dealer/settings/notification/email/read": ("notification_settings", "read"),
        "dealer/settings/notification/email/update": ("notification_settings", "update"),
    }
    everything_but = {}
    for action, (category, operation) in needs.items():
        login = action.replace("/", "-")
        ops = [op for op in ["create", "delete", "read", "send_email", "update"]
               if op != operation]
        everything_but[action] = login
        await api.dealer(login, permissions={category: ops})
    for action, login in everything_but.items():
        h = await api.login(login)
        # Refused before the parameters are even looked at.
        await api.error(action, 13, 403, hash=h)

"""`mail.smtp.auth.mechanisms`: which password mechanisms the service may try.

Null tries the best the server offers (CRAM-MD5, then PLAIN, then LOGIN); a
space-separated subset restricts the choice, so a dealer can avoid a mechanism a
server advertises but does not accept. Navixy's admin panel does not know the
key: it saves a gateway back without it, and that save keeps the stored value.
aiosmtpd here records which mechanism each login used; the Postfix cases, with
Cyrus SASL behind each mechanism, are in test_postfix_relay.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.api import Api, send_email
from tests.support.smtp import PASSWORD, USER, aiosmtpd_server, certificate_context

MECHANISMS = "mail.smtp.auth.mechanisms"
LISTED = "Must be a space-separated list of: CRAM-MD5, PLAIN, LOGIN, XOAUTH2."


async def dealer(api: Api) -> str:
    await api.dealer("d1")
    h = await api.login("d1")
    await api.ok("dealer/settings/notification/email/update", hash=h,
                 json={"email_from": "fleet@d1.example"})
    return h


def gateway(port: int = 25, **params: Any) -> dict[str, Any]:
    return {"label": "relay", "provider": "smtp", "leasable": False,
            "params": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                       "mail.smtp.starttls.enable": True, "mail.smtp.ssl.trust_all_hosts": True,
                       "mail.smtp.auth": True, "mail.smtp.user": USER,
                       "mail.smtp.password": PASSWORD, **params}}


async def own_params(api: Api, h: str) -> dict[str, Any]:
    [own] = (await api.ok("gateways/email/list", hash=h))["own"]
    return dict(own["params"])


@pytest.mark.parametrize(("value", "error"), [
    ("XOAUTH3", LISTED),
    ("PLAIN GSSAPI", LISTED),
    ("", LISTED),
    ("   ", LISTED),
    ("PLAIN plain", "Must not name a mechanism twice."),
    (5, "Not a valid string."),
    ("PLAIN " * 20, "Longer than maximum length 100."),
])
async def test_refused_values_name_the_param(api: Api, value: Any, error: str) -> None:
    h = await dealer(api)
    status, body = await api.call("gateways/email/create", hash=h,
                                  json={"gateway": gateway(**{MECHANISMS: value})})
    assert (status, body) == (400, {
        "success": False, "status": {"code": 7, "description": "Invalid parameters"},
        "errors": [{"parameter": f"gateway.params.{MECHANISMS}", "error": error}]})
    assert await api.sql("SELECT id FROM email_gateways") == []


async def test_shown_only_when_set_and_kept_by_a_panel_save(api: Api) -> None:
    h = await dealer(api)
    created = await api.ok("gateways/email/create", hash=h,
                           json={"gateway": gateway(**{MECHANISMS: "login  plain"})})
    shown = await own_params(api, h)
    assert shown[MECHANISMS] == "LOGIN PLAIN"
    assert list(shown)[-1] == MECHANISMS  # after Navixy's keys, which keep their order

    # What Navixy's admin panel sends back: the keys it knows, the label edited.
    panel = {key: value for key, value in shown.items() if key != MECHANISMS}
    await api.ok("gateways/email/update", hash=h, json={"gateway": {
        "id": created["id"], "label": "renamed", "provider": "smtp", "leasable": False,
        "params": panel}})
    assert (await own_params(api, h))[MECHANISMS] == "LOGIN PLAIN"

    # null clears it, and a gateway without it lists exactly Navixy's keys.
    await api.ok("gateways/email/update", hash=h, json={"gateway": {
        "id": created["id"], "label": "renamed", "provider": "smtp", "leasable": False,
        "params": {**panel, MECHANISMS: None}}})
    assert await own_params(api, h) == panel
    [row] = await api.sql("SELECT params FROM email_gateways")
    assert MECHANISMS not in row.params


class Logins:
    """An aiosmtpd authenticator that records the mechanism of every login."""

    def __init__(self) -> None:
        self.mechanisms: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
              and auth_data.password.decode() == PASSWORD)
        return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize(("chosen", "used"), [
    (None, "PLAIN"),  # aiosmtpd offers LOGIN and PLAIN: PLAIN is preferred
    ("LOGIN", "LOGIN"),
    ("LOGIN PLAIN", "PLAIN"),  # the order of preference is the service's, not the list's
    ("CRAM-MD5 LOGIN", "LOGIN"),
])
async def test_the_allowed_mechanism_is_used(api: Api, chosen: str | None, used: str) -> None:
    logins = Logins()
    h = await dealer(api)
    with aiosmtpd_server(starttls=certificate_context(), authenticator=logins,
                         auth_require_tls=True) as server:
        extra = {} if chosen is None else {MECHANISMS: chosen}
        created = await api.ok("gateways/email/create", hash=h,
                               json={"gateway": gateway(server.port, **extra)})
        assert await send_email(api, h, created["id"]) == (200, {"success": True})
    assert logins.mechanisms == [used]
    assert len(server.messages) == 1


async def test_none_allowed_is_offered(api: Api) -> None:
    logins = Logins()
    h = await dealer(api)
    with aiosmtpd_server(starttls=certificate_context(), authenticator=logins,
                         auth_require_tls=True) as server:
        created = await api.ok("gateways/email/create", hash=h,
                               json={"gateway": gateway(server.port, **{MECHANISMS: "CRAM-MD5"})})
        assert await send_email(api, h, created["id"]) == (400, {
            "success": False, "status": {
                "code": 209,
                "description": "Failed sending email: the server offers none of the AUTH "
                               "mechanisms allowed (mail.smtp.auth.mechanisms: CRAM-MD5)"}})
    assert (logins.mechanisms, server.messages) == ([], [])

"""`POST /login` of the Webitel face: key, token, expiry, domain and acl; refusals."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tests.support.api import PASSWORD, Api
from tests.support.webitel import (
    DOMAIN,
    INVALID_CREDENTIALS,
    NOT_FOUND_GET,
    Webitel,
)


@pytest.mark.parametrize("form", [False, True])
@pytest.mark.parametrize("username", ["d1", f"d1@{DOMAIN}", "d1@MY.Webitel.com"])
async def test_login(api: Api, webitel: Webitel, form: bool, username: str) -> None:
    permissions = {"email_gateways": ["read", "update"]}
    await api.dealer("d1", domain=DOMAIN, permissions=permissions)
    started_ms = time.time() * 1000
    status, body = await webitel.login(username, form=form)
    assert status == 200, body
    assert set(body) == {"key", "token", "expires", "domain", "acl"}
    assert str(uuid.UUID(body["key"])) == body["key"]
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert body["expires"] == claims["exp"]
    assert isinstance(body["expires"], int)
    # Milliseconds, 24 hours ahead by default.
    assert abs(body["expires"] - (started_ms + 24 * 3600 * 1000)) < 60_000
    assert (body["domain"], body["acl"]) == (DOMAIN, permissions)
    assert body["key"] not in body["token"]
    assert await webitel.call("GET", auth=(body["key"], body["token"])) == (404, NOT_FOUND_GET)


async def test_login_of_a_dealer_without_domain(api: Api, webitel: Webitel) -> None:
    await api.dealer("d1")
    status, body = await webitel.login("d1")
    assert (status, body["domain"]) == (200, None)


@pytest.mark.parametrize("username,password", [
    ("d1@other.example", PASSWORD),      # right password, wrong domain
    ("nobody", PASSWORD),                 # unknown user
    ("d1", "wrong password"),             # wrong password
    ("nobody@my.webitel.com", PASSWORD),
])
async def test_login_refused(api: Api, webitel: Webitel, username: str, password: str) -> None:
    await api.dealer("d1", domain=DOMAIN)
    assert await webitel.login(username, password) == (401, INVALID_CREDENTIALS)
    assert await webitel.login(username, password, form=True) == (401, INVALID_CREDENTIALS)


async def test_login_with_an_empty_password_is_bad_input(api: Api, webitel: Webitel) -> None:
    """An empty value counts as absent (as on the Navixy face): a 400 naming the field."""
    await api.dealer("d1", domain=DOMAIN)
    missing = (400, {"status": "error", "info": "password: Missing data for required field."})
    assert await webitel.login("d1", "") == missing
    assert await webitel.login("d1", "", form=True) == missing


async def test_unknown_user_and_wrong_password_answer_the_same(api: Api,
                                                              webitel: Webitel) -> None:
    await api.dealer("d1", domain=DOMAIN)
    unknown = await webitel.login("nobody", PASSWORD)
    wrong = await webitel.login("d1", "wrong password")
    assert unknown == wrong == (401, INVALID_CREDENTIALS)


async def test_blocked_dealer(api: Api, webitel: Webitel) -> None:
    await api.dealer("d1", domain=DOMAIN, block_status="BLOCK_LOGIN")
    assert await webitel.login("d1") == (403, {"status": "error", "info": "Access denied"})
    assert await webitel.login("d1", "wrong password") == (401, INVALID_CREDENTIALS)


async def test_login_without_username_or_with_a_bad_body(api: Api, webitel: Webitel) -> None:
    status, body = await webitel.call("POST", "/login", json={"password": PASSWORD})
    assert (status, body["status"]) == (400, "error")
    assert body == {"status": "error", "info": "username: Missing data for required field."}
    status, body = await webitel.call("POST", "/login", data=b"{not json",
                                      headers={"Content-Type": "application/json"})
    assert (status, body["status"]) == (400, "error")

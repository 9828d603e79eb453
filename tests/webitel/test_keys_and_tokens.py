"""Every 401 of the Webitel face, /logout, and where the key and token may come from
(X-Key and X-Access-Token headers, query or body fields)."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest

from tests.support.api import Api, stored
from tests.support.webitel import (
    DOMAIN,
    INVALID_TOKEN,
    INVALID_USER,
    NOT_FOUND_GET,
    SEED_CREATE,
    Webitel,
    bound,
    dealer_session,
    seed_document,
    webitel_login,
)


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c",
                                   "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE0NDIwMDIx"
                                   "NzkzNTh9.pKXWfzXqbp8FMbOKocNaSlT1bYq4Xqzol-0kEXOY0_s",
                                   "another-secret", "none-alg", "no-exp", "seconds-exp"])
async def test_bad_tokens_are_invalid_token(api: Api, webitel: Webitel,
                                            token: str | None) -> None:
    _, (key, _) = await dealer_session(api)
    future_ms = int(time.time() * 1000) + 3_600_000
    forged = {
        "another-secret": jwt.encode({"exp": future_ms, "k": "x"},
                                     b"another-key-32-bytes-long-......", algorithm="HS256"),
        "none-alg": jwt.encode({"exp": future_ms, "k": "x"}, None, algorithm="none"),
        "no-exp": jwt.encode({"k": "x"}, b"another-key-32-bytes-long-......",
                             algorithm="HS256"),
    }
    headers = {"X-Key": key}
    if token == "seconds-exp":
        # A genuine token is needed to show the difference; an exp in seconds from
        # another signer is refused as a bad token before its age is looked at.
        token = jwt.encode({"exp": int(time.time()) + 3600, "k": "x"},
                           b"another-key-32-bytes-long-......", algorithm="HS256")
    if token is not None:
        headers["X-Access-Token"] = forged.get(token, token)
    assert await webitel.call("GET", headers=headers, domain=DOMAIN) == (401, INVALID_TOKEN)


async def test_expired_token(api: Api, webitel: Webitel, make_client, db) -> None:  # type: ignore[no-untyped-def]
    await api.dealer("d1", domain=DOMAIN)
    short = Api(await make_client(webitel_token_ttl_seconds=1), db)
    auth = await webitel_login(short, "d1")
    expires = jwt.decode(auth[1], options={"verify_signature": False})["exp"]
    assert 0 < expires - time.time() * 1000 <= 1500
    assert await webitel.call("GET", auth=auth, client=short.client) == (404, NOT_FOUND_GET)
    await asyncio.sleep(1.2)
    assert await webitel.call("GET", auth=auth, client=short.client) == (
        401, {"status": "error", "info": "Token Expired"})


async def test_key_missing_unknown_or_from_another_login(api: Api, webitel: Webitel) -> None:
    _, (key1, token1) = await dealer_session(api)
    key2, token2 = await webitel_login(api, "d1")
    assert await webitel.call("GET", headers={"X-Access-Token": token1}) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(str(uuid.uuid4()), token1)) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(key2, token1)) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=(key1, token2)) == (401, INVALID_USER)
    # Another dealer's key with this dealer's token.
    await api.dealer("d2", domain="d2.example")
    key3, _ = await webitel_login(api, "d2")
    assert await webitel.call("GET", auth=(key3, token1)) == (401, INVALID_USER)
    # The right pairs work.
    assert await webitel.call("GET", auth=(key1, token1)) == (404, NOT_FOUND_GET)
    assert await webitel.call("GET", auth=(key2, token2)) == (404, NOT_FOUND_GET)


async def test_a_navixy_hash_is_not_a_webitel_key(api: Api, webitel: Webitel) -> None:
    _, (_, token) = await dealer_session(api)
    h = await api.login("d1")
    assert await webitel.call("GET", auth=(h, token)) == (401, INVALID_USER)


async def test_logout_ends_the_key(api: Api, webitel: Webitel) -> None:
    _, auth = await dealer_session(api)
    other = await webitel_login(api, "d1")
    assert await webitel.call("POST", "/logout", auth=auth) == (
        200, {"status": "OK", "info": "Successful logout."})
    assert await webitel.call("GET", auth=auth) == (401, INVALID_USER)
    assert await webitel.call("POST", "/logout", auth=auth) == (401, INVALID_USER)
    assert await webitel.call("GET", auth=other) == (404, NOT_FOUND_GET)  # only that key
    assert await webitel.call("POST", "/logout") == (401, INVALID_TOKEN)


async def test_key_and_token_as_query_or_body_fields(api: Api, webitel: Webitel) -> None:
    dealer_id, (key, token) = await dealer_session(api)
    query = {"access_token": token, "x_key": key}
    assert await webitel.call("GET", query=query) == (404, NOT_FOUND_GET)
    status, created = await webitel.call("POST", json={**SEED_CREATE, **query})
    [row] = await stored(api)
    assert (status, created) == (200, seed_document(row.id, "My Setting"))
    assert await webitel.call("GET", query=query, domain=DOMAIN) == (
        200, seed_document(row.id, "My Setting"))
    assert await webitel.call("POST", "/logout", data=query) == (
        200, {"status": "OK", "info": "Successful logout."})
    assert await webitel.call("GET", query=query) == (401, INVALID_USER)
    assert await bound(api, dealer_id) == row.id

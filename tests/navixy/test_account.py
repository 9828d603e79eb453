"""account/auth, get_permissions, logout; sessions; permission checks."""

from __future__ import annotations

import asyncio
import hashlib
import time

from navixy_panel.domain import permissions
from tests.support.api import PASSWORD, Api

WRONG_LOGIN = {"success": False, "status": {"code": 12, "description": "Dealer not found"}}


async def test_auth_returns_hash_and_permissions(api: Api) -> None:
    await api.dealer("d1", permissions={"email_gateways": ["read"]})
    body = await api.ok("account/auth", json={"login": "d1", "password": PASSWORD})
    assert body["permissions"] == {"email_gateways": ["read"]}
    assert len(body["hash"]) == 32 and body["hash"] == body["hash"].lower()
    assert await api.ok("account/get_permissions", hash=body["hash"]) == {
        "success": True, "permissions": {"email_gateways": ["read"]}}


async def test_auth_by_get_query(api: Api) -> None:
    """Documented (if discouraged): GET account/auth?login=…&password=…"""
    await api.dealer("d1")
    body = await api.ok("account/auth", method="GET",
                        query={"login": "d1", "password": PASSWORD})
    assert len(body["hash"]) == 32


async def test_only_a_digest_of_the_hash_is_stored(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    rows = await api.sql("SELECT digest FROM sessions")
    assert [bytes(r.digest) for r in rows] == [hashlib.sha256(session_hash.encode()).digest()]
    dump = await api.sql("SELECT sessions::text AS row FROM sessions")
    assert session_hash not in dump[0].row


async def test_wrong_password_and_unknown_login_answer_alike(api: Api) -> None:
    await api.dealer("d1")
    timings = {}
    for login in ("d1", "nobody"):
        started = time.perf_counter()
        body = await api.error("account/auth", 12, 400,
                               form={"login": login, "password": "wrong password"})
        timings[login] = time.perf_counter() - started
        assert body == WRONG_LOGIN
    # Both run one argon2 verification; a missing one would be ~100x faster.
    assert timings["nobody"] > timings["d1"] / 3


async def test_blocked_dealer(api: Api) -> None:
    for status in ("INITIAL_BLOCK", "BLOCK_LOGIN"):
        await api.dealer(status, block_status=status)
        assert await api.error("account/auth", 11, 403,
                               form={"login": status, "password": PASSWORD}) == {
            "success": False, "status": {"code": 11, "description": "Access denied"}}
        # With a wrong password the answer does not reveal the block.
        assert await api.error("account/auth", 12, 400,
                               form={"login": status, "password": "nope"}) == WRONG_LOGIN
    await api.dealer("clients", block_status="CLIENTS_BLOCKED")
    await api.login("clients")  # only its customers are blocked, not the panel


async def test_logout_ends_the_hash(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    other = await api.login("d1")
    assert await api.ok("account/logout", hash=session_hash) == {"success": True}
    await api.error("gateways/email/list", 4, 400, hash=session_hash)
    await api.error("account/logout", 4, 400, hash=session_hash)
    await api.ok("gateways/email/list", hash=other)  # other sessions live on


async def test_session_expires_after_its_lifetime(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(session_ttl_seconds=1), db)
    await api.dealer("d1")
    session_hash = await api.login("d1")
    await api.ok("gateways/email/list", hash=session_hash)
    await asyncio.sleep(1.2)
    await api.error("gateways/email/list", 4, 400, hash=session_hash)


async def test_blocking_ends_sessions_even_if_rows_remain(api: Api) -> None:
    await api.dealer("d1")
    session_hash = await api.login("d1")
    await api.sql("UPDATE dealers SET block_status = 'BLOCK_LOGIN' WHERE login = 'd1'")
    await api.error("gateways/email/list", 4, 400, hash=session_hash)


async def test_code_13_without_permission(api: Api) -> None:
    await api.dealer("d1", permissions={"email_gateways": ["create", "update"]})
    session_hash = await api.login("d1")
    assert await api.error("gateways/email/list", 13, 403, hash=session_hash) == {
        "success": False, "status": {"code": 13, "description": "Operation not permitted"}}
    # get_permissions and logout need only a session.
    await api.ok("account/get_permissions", hash=session_hash)


async def test_empty_permissions_grant_nothing(api: Api) -> None:
    await api.dealer("d1", permissions={})
    body = await api.ok("account/auth", form={"login": "d1", "password": PASSWORD})
    assert body["permissions"] == {}
    await api.error("gateways/email/list", 13, 403, hash=body["hash"])


async def test_all_permissions_are_navixys_catalogue(api: Api) -> None:
    await api.dealer("d1")
    body = await api.ok("account/auth", form={"login": "d1", "password": PASSWORD})
    assert body["permissions"] == permissions.everything()
    assert body["permissions"]["email_gateways"] == [
        "create", "delete", "read", "send_email", "update"]


async def test_repeated_failures_are_rate_limited(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(login_failures_per_login=3, login_failures_per_address=50), db)
    await api.dealer("d1")
    for _ in range(3):
        await api.error("account/auth", 12, 400, form={"login": "d1", "password": "bad"})
    limited = {"success": False,
               "status": {"code": 15, "description": "Too many requests (rate limit exceeded)"}}
    # Even the right password is refused now: the attacker learns nothing more.
    assert await api.error("account/auth", 15, 429,
                           form={"login": "d1", "password": PASSWORD}) == limited
    # Other logins from elsewhere are unaffected; bad input is not counted.
    await api.dealer("d2")
    await api.login("d2")
    await api.error("account/auth", 7, 400, form={"login": "d2"})


async def test_failures_are_limited_per_address(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(login_failures_per_login=50, login_failures_per_address=2), db)
    await api.dealer("d1")
    await api.error("account/auth", 12, 400, form={"login": "x1", "password": "bad"})
    await api.error("account/auth", 12, 400, form={"login": "x2", "password": "bad"})
    await api.error("account/auth", 15, 429, form={"login": "d1", "password": PASSWORD})


async def test_expired_sessions_are_swept_at_start(make_client, db) -> None:  # type: ignore[no-untyped-def]
    api = Api(await make_client(session_ttl_seconds=1), db)
    await api.dealer("d1")
    await api.login("d1")
    live = await api.login("d1")
    await asyncio.sleep(1.2)
    await api.sql("UPDATE sessions SET expires_at = now() + interval '1 hour' "
                  "WHERE digest = :d", d=hashlib.sha256(live.encode()).digest())
    await make_client()  # another instance starting sweeps what has expired
    for _ in range(100):
        if len(await api.sql("SELECT 1 FROM sessions")) == 1:
            break
        await asyncio.sleep(0.02)
    assert len(await api.sql("SELECT 1 FROM sessions")) == 1
    await api.ok("gateways/email/list", hash=live)

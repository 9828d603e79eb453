"""Failed logins are counted in PostgreSQL: both faces and every instance share the count."""

from __future__ import annotations

from tests.support.api import PASSWORD, Api


async def test_failures_are_shared_by_faces_and_instances(make_client, db) -> None:  # type: ignore[no-untyped-def]
    limits = {"login_failures_per_login": 3, "login_failures_per_address": 100}
    a = Api(await make_client(**limits), db)
    b = Api(await make_client(**limits), db)
    await a.dealer("d1")
    await a.error("account/auth", 12, 400, form={"login": "d1", "password": "bad"})
    await b.error("account/auth", 12, 400, form={"login": "d1", "password": "bad"})
    response = await a.client.post("/login", json={"username": "d1", "password": "bad"})
    assert (response.status, await response.json()) == (
        401, {"status": "error", "info": "Invalid credentials"})
    # Three failures in all: now both faces on both instances refuse, right password or not.
    response = await b.client.post("/login", json={"username": "d1", "password": PASSWORD})
    assert (response.status, await response.json()) == (
        429, {"status": "error", "info": "Too many requests"})
    await a.error("account/auth", 15, 429, form={"login": "d1", "password": PASSWORD})
    rows = await a.sql("SELECT bucket, hits FROM rate_counters ORDER BY bucket")
    assert [(r.bucket, r.hits) for r in rows] == [("address-failures:127.0.0.1", 3),
                                                   ("login-failures:d1", 3)]

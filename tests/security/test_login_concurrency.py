"""Login limits under concurrency: at most the limit's remainder get their password checked.

An attempt reserves its place in the failure counts before its password is
checked, so of any number of attempts released together, on either face and
on any instance, at most the limit's remainder get their password checked.
Each test releases its attempts at once (one `asyncio.gather`), counts the
answers (wrong password: Navixy 12 / Webitel 401; refused: 15 / 429) and counts
the argon2 verifications the service actually ran.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from navixy_panel.http import keys
from tests.support.api import PASSWORD, Api

LIMITS = {"login_failures_per_login": 10, "login_failures_per_address": 50}
OK, WRONG, LIMITED = "ok", "wrong password", "too many"


class Checks:
    """How many passwords the service verified (the argon2 call): each instance made
    here has its context's password check counted, on that app alone."""

    def __init__(self, make_client: Callable[..., Awaitable[TestClient]]) -> None:
        self.count = 0
        self._make_client = make_client

    def reset(self) -> None:
        self.count = 0

    async def client(self) -> TestClient:
        """A new instance with the test's limits."""
        client = await self._make_client(**LIMITS)
        context = client.app[keys.CONTEXT]
        verify = context.verify_password

        async def counted(stored_hash: str | None, password: str) -> bool:
            self.count += 1
            return await verify(stored_hash, password)

        context.verify_password = counted
        return client


@pytest.fixture
def checks(make_client) -> Checks:  # type: ignore[no-untyped-def]
    return Checks(make_client)


async def navixy_attempt(client: TestClient, login: str, password: str) -> str:
    response = await client.post("/v2/panel/account/auth",
                                 data={"hash": "", "login": login, "password": password})
    body = await response.json()
    outcome = {(200, None): OK, (400, 12): WRONG, (429, 15): LIMITED}.get(
        (response.status, (body.get("status") or {}).get("code")))
    assert outcome is not None, (response.status, body)
    assert (outcome == OK) == (body.get("success") is True), body
    return outcome


async def webitel_attempt(client: TestClient, login: str, password: str) -> str:
    response = await client.post("/login", json={"username": login, "password": password})
    body = await response.json()
    if response.status == 200:
        assert body["key"] and body["token"], body
        return OK
    outcome = {(401, "Invalid credentials"): WRONG, (429, "Too many requests"): LIMITED}.get(
        (response.status, body.get("info")))
    assert outcome is not None, (response.status, body)
    assert body["status"] == "error", body
    return outcome


FACES = (navixy_attempt, webitel_attempt)


async def release(attempts: list[tuple[Any, TestClient, str, str]]) -> list[str]:
    """All attempts at once; the answers in the order given."""
    return list(await asyncio.gather(*(attempt(client, login, password)
                                       for attempt, client, login, password in attempts)))


async def failures(api: Api, login: str) -> int:
    rows = await api.sql("SELECT coalesce(sum(hits), 0) AS n FROM rate_counters "
                         "WHERE bucket = :bucket", bucket=f"login-failures:{login}")
    return int(rows[0].n)


async def test_forty_attempts_on_both_faces_check_at_most_ten(make_client, db,  # type: ignore[no-untyped-def]
                                                              checks: Checks) -> None:
    client = await checks.client()
    api = Api(client, db)
    await api.dealer("d1")
    faces = itertools.cycle(FACES)
    answers = await release([(next(faces), client, "d1", f"guess-{n}") for n in range(40)])
    assert Counter(answers) == {WRONG: 10, LIMITED: 30}
    assert checks.count == 10
    assert await failures(api, "d1") == 10
    # The places are taken: the right password is refused on both faces, unchecked.
    assert [await face(client, "d1", PASSWORD) for face in FACES] == [LIMITED, LIMITED]
    assert checks.count == 10


@pytest.mark.parametrize("position", [0, 5, 30, 59])
async def test_the_right_password_among_59_wrong_ones(make_client, db, checks: Checks,  # type: ignore[no-untyped-def]
                                                      position: int) -> None:
    """The right one logs in only if it got a place (and then gives it back); the
    wrong ones never get more than the limit's ten checks."""
    client = await checks.client()
    api = Api(client, db)
    await api.dealer("d1")
    faces = itertools.cycle(FACES)
    attempts = [(next(faces), client, "d1", f"guess-{n}") for n in range(59)]
    attempts.insert(position, (FACES[position % 2], client, "d1", PASSWORD))
    answers = await release(attempts)
    right = answers.pop(position)
    wrong = Counter(answers)
    assert set(wrong) <= {WRONG, LIMITED} and sum(wrong.values()) == 59
    assert wrong[WRONG] <= 10
    if right == OK:
        assert checks.count == wrong[WRONG] + 1
    else:
        assert right == LIMITED, right
        assert wrong[WRONG] == 10 and checks.count == 10  # refused because the places were full
    assert await failures(api, "d1") == wrong[WRONG]  # a success never counts


async def test_sixty_attempts_on_six_logins_from_one_address_check_at_most_fifty(  # type: ignore[no-untyped-def]
        make_client, db, checks: Checks) -> None:
    client = await checks.client()
    api = Api(client, db)
    logins = [f"d{n}" for n in range(6)]
    for login in logins:
        await api.dealer(login)
    faces = itertools.cycle(FACES)
    attempts = [(next(faces), client, login, f"guess-{n}")
                for n in range(10) for login in logins]
    answers = await release(attempts)
    assert Counter(answers) == {WRONG: 50, LIMITED: 10}
    assert checks.count == 50
    for login in logins:  # each login stayed within its own limit too
        assert await failures(api, login) <= 10
    rows = await api.sql("SELECT hits FROM rate_counters WHERE bucket = :b",
                         b="address-failures:127.0.0.1")
    assert [row.hits for row in rows] == [50]
    # The address is full: a seventh login is refused before its password is checked.
    await api.dealer("d6")
    assert await navixy_attempt(client, "d6", PASSWORD) == LIMITED
    assert checks.count == 50


async def test_two_instances_share_the_count(make_client, db, checks: Checks) -> None:  # type: ignore[no-untyped-def]
    instances = [await checks.client(), await checks.client()]
    api = Api(instances[0], db)
    await api.dealer("d1")
    routes = itertools.cycle(itertools.product(FACES, instances))
    attempts = []
    for n in range(40):
        face, client = next(routes)
        attempts.append((face, client, "d1", f"guess-{n}"))
    answers = await release(attempts)
    assert Counter(answers) == {WRONG: 10, LIMITED: 30}
    assert checks.count == 10
    for face, client in itertools.product(FACES, instances):
        assert await face(client, "d1", PASSWORD) == LIMITED


async def test_right_passwords_give_their_places_back(make_client, db,  # type: ignore[no-untyped-def]
                                                      checks: Checks) -> None:
    """Simultaneous right passwords may find every place reserved by each other for a
    moment (then 15), but none of them counts: afterwards all ten places are free."""
    client = await checks.client()
    api = Api(client, db)
    await api.dealer("d1")
    faces = itertools.cycle(FACES)
    answers = await release([(next(faces), client, "d1", PASSWORD) for _ in range(20)])
    assert set(answers) <= {OK, LIMITED} and answers.count(OK) >= 10
    assert checks.count == answers.count(OK)
    assert await failures(api, "d1") == 0
    checks.reset()
    for n in range(10):
        assert await next(faces)(client, "d1", f"guess-{n}") == WRONG
    assert await navixy_attempt(client, "d1", PASSWORD) == LIMITED
    assert checks.count == 10

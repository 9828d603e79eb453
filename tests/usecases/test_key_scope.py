"""Who a submission key speaks for: `holder_in` (the key check both submission faces
make) and `resolve_dealer` (the dealer a submission names).

Every refused key gets the one `BadCredentials`, whatever the reason, and every
dealer outside the key's subtree the one `OutsideSubtree`, whether it exists or not:
a refusal must not tell a guesser which part was wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from navixy_panel.domain.delivery import KeyHolder
from navixy_panel.domain.errors import BadCredentials, OutsideSubtree
from navixy_panel.http import keys as app_keys
from navixy_panel.usecases import keys
from navixy_panel.usecases.context import Context
from tests.support.api import Api


def context(api: Api) -> Context:
    return api.client.app[app_keys.CONTEXT]


async def key_of(api: Api, login: str) -> keys.CreatedKey:
    return await keys.create_key_for_login(context(api), login, "test")


async def last_used(api: Api, key_id: int) -> object:
    return (await api.sql("SELECT last_used_at FROM submission_keys WHERE id = :id",
                          id=key_id))[0].last_used_at


async def refused(api: Api, secret: str, *, login: str | None = None) -> None:
    with pytest.raises(BadCredentials) as caught:
        await keys.authenticate(context(api), secret, login=login)
    assert caught.value.message == "wrong login or password"


async def test_a_live_key_names_its_dealer_and_records_its_use_once_a_minute(api: Api) -> None:
    dealer_id = await api.dealer("d1")
    created = await key_of(api, "d1")
    assert await last_used(api, created.id) is None
    holder = await keys.authenticate(context(api), created.key)
    assert holder == KeyHolder(key_id=created.id, dealer_id=dealer_id)
    first = await last_used(api, created.id)
    assert first is not None
    assert await keys.authenticate(context(api), created.key, login="d1") == holder
    assert await last_used(api, created.id) == first  # within the minute: not written again
    await api.sql("UPDATE submission_keys SET last_used_at = now() - interval '61 seconds'")
    aged = await last_used(api, created.id)
    async with context(api).unit_of_work() as uow:  # inside a caller's unit of work
        assert await keys.holder_in(uow, created.key) == holder
    assert await last_used(api, created.id) > aged  # type: ignore[operator]


async def test_simultaneous_submissions_do_not_wait_for_each_others_touch(api: Api) -> None:
    """The first submission's touch locks the key row until it commits; another one
    with the same key meanwhile neither waits for that lock nor fails."""
    dealer_id = await api.dealer("d1")
    created = await key_of(api, "d1")
    async with context(api).unit_of_work() as first:
        await keys.holder_in(first, created.key)
        second = await asyncio.wait_for(keys.authenticate(context(api), created.key), 5)
        assert second == KeyHolder(key_id=created.id, dealer_id=dealer_id)
    assert await last_used(api, created.id) is not None


def malformed(key: str) -> Iterator[str]:
    yield ""
    yield "npk_"
    yield key[:-1]
    yield key + "A"
    yield key + "\n"
    yield " " + key
    yield "NPK_" + key[4:]
    yield key[:-1] + "é"
    yield key[:-1] + "\x00"
    yield "npk_" + "A" * 10_000


async def test_malformed_and_unknown_keys_are_refused(api: Api) -> None:
    await api.dealer("d1")
    created = await key_of(api, "d1")
    for secret in malformed(created.key):
        await refused(api, secret)
    await refused(api, "npk_" + "A" * 43)  # well-formed, never issued
    assert await last_used(api, created.id) is None


async def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    dealer_id = await api.dealer("d1")
    created, kept = await key_of(api, "d1"), await key_of(api, "d1")
    await keys.authenticate(context(api), created.key)
    await keys.revoke_key(context(api), created.id, dealer_id=dealer_id)
    await refused(api, created.key)
    assert (await keys.authenticate(context(api), kept.key)).key_id == kept.id


@pytest.mark.parametrize("status", ["INITIAL_BLOCK", "BLOCK_LOGIN", "CLIENTS_BLOCKED"])
async def test_a_blocked_dealers_key_is_refused(api: Api, status: str) -> None:
    await api.dealer("d1")
    created = await key_of(api, "d1")
    await api.sql("UPDATE dealers SET block_status = :status", status=status)
    await refused(api, created.key)
    await refused(api, created.key, login="d1")
    await api.sql("UPDATE dealers SET block_status = 'NOT_BLOCKED'")
    assert (await keys.authenticate(context(api), created.key)).key_id == created.id


async def test_smtp_auth_login_must_be_the_keys_dealer(api: Api) -> None:
    await api.dealer("parent")
    await api.dealer("child", parent="parent")
    parents = await key_of(api, "parent")
    for login in ("child", "ghost", "PARENT", "parent ", ""):
        await refused(api, parents.key, login=login)
    assert (await keys.authenticate(context(api), parents.key, login="parent")).key_id == 1


async def tree(api: Api) -> dict[str, int]:
    """owner → parent → (child → grandchild, sibling); `other` in a tree of its own."""
    ids = {"owner": await api.dealer("owner")}
    ids["parent"] = await api.dealer("parent", parent="owner")
    ids["child"] = await api.dealer("child", parent="parent")
    ids["grandchild"] = await api.dealer("grandchild", parent="child")
    ids["sibling"] = await api.dealer("sibling", parent="parent")
    ids["other"] = await api.dealer("other")
    return ids


async def resolve(api: Api, holder: KeyHolder, dealer: str | int | None) -> int:
    async with context(api).unit_of_work() as uow:
        return await keys.resolve_dealer(uow, holder, dealer)


async def outside(api: Api, holder: KeyHolder, dealer: str | int) -> str:
    with pytest.raises(OutsideSubtree) as caught:
        await resolve(api, holder, dealer)
    return str(caught.value)


async def test_a_key_submits_for_its_dealer_and_the_whole_subtree_below(api: Api) -> None:
    ids = await tree(api)
    holder = KeyHolder(key_id=1, dealer_id=ids["parent"])
    assert await resolve(api, holder, None) == ids["parent"]
    for name in ("parent", "child", "grandchild", "sibling"):
        assert await resolve(api, holder, name) == ids[name], name
        assert await resolve(api, holder, ids[name]) == ids[name], name
    # The platform owner's key reaches every dealer of its tree.
    owners = KeyHolder(key_id=2, dealer_id=ids["owner"])
    for name in ("owner", "parent", "child", "grandchild", "sibling"):
        assert await resolve(api, owners, name) == ids[name], name


async def test_outside_the_subtree_answers_the_same_whether_or_not_it_exists(api: Api) -> None:
    ids = await tree(api)
    holder = KeyHolder(key_id=1, dealer_id=ids["child"])
    refusals = set()
    for name in ("sibling", "parent", "owner", "other"):
        refusals.add(await outside(api, holder, name))
        refusals.add(await outside(api, holder, ids[name]))
    for missing in ("ghost", "", "CHILD", 999_999, 0, -1, 2**63, 2**70, True):
        refusals.add(await outside(api, holder, missing))
    for hostile in ("child\x00", "x" * 100_000):
        refusals.add(await outside(api, holder, hostile))
    assert refusals == {"the key may not submit for this dealer"}
    assert await resolve(api, holder, "grandchild") == ids["grandchild"]

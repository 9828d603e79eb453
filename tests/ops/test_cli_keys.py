"""`navixy-panel key create|list|revoke`: the operator's submission keys (real processes).

`create` prints the key once, as one JSON line; nothing else ever prints it. A
refused command is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import re

import pytest

from navixy_panel.domain.delivery import KeyHolder
from navixy_panel.domain.errors import BadCredentials
from navixy_panel.http import keys as app_keys
from navixy_panel.usecases import keys
from tests.support.api import Api
from tests.support.processes import run

KEY_LINE = re.compile(r'\{"id": (\d+), "key": "(npk_[A-Za-z0-9_-]{43})"\}\n')
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


async def test_create_prints_the_key_once_and_it_works(api: Api, database_url: str) -> None:
    dealer_id = await api.dealer("d1")
    done = run("key", "create", "--dealer", "d1", "--label", "Alarms", database_url=database_url)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    printed = KEY_LINE.fullmatch(done.stdout)
    assert printed is not None, done.stdout
    key_id, key = int(printed[1]), printed[2]
    assert key_id == 1
    holder = await keys.authenticate(api.client.app[app_keys.CONTEXT], key, login="d1")
    assert holder == KeyHolder(key_id=1, dealer_id=dealer_id)

    done = run("key", "create", "--dealer", "d1", database_url=database_url)
    assert done.returncode == 0 and KEY_LINE.fullmatch(done.stdout), done.stdout
    rows = await api.sql("SELECT id, label FROM submission_keys ORDER BY id")
    assert [(r.id, r.label) for r in rows] == [(1, "Alarms"), (2, "")]

    done = run("key", "list", database_url=database_url)
    assert key not in done.stdout
    done = run("key", "list", "--json", database_url=database_url)
    assert key not in done.stdout


async def test_create_refusals(api: Api, database_url: str) -> None:
    await api.dealer("d1")
    cases = [
        (["--dealer", "ghost"], "navixy-panel: dealer 'ghost' does not exist\n"),
        (["--dealer", "d1", "--label", "x" * 101],
         "navixy-panel: label: Longer than maximum length 100.\n"),
    ]
    for args, message in cases:
        done = run("key", "create", *args, database_url=database_url)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", message)
    assert await api.sql("SELECT id FROM submission_keys") == []


async def test_list_shows_every_key_without_the_key(api: Api, database_url: str) -> None:
    await api.dealer("d1")
    await api.dealer("d2", parent="d1")
    context = api.client.app[app_keys.CONTEXT]
    first = await keys.create_key_for_login(context, "d1", "Alarms")
    await keys.create_key_for_login(context, "d2", "")
    await keys.authenticate(context, first.key)
    await keys.revoke_key(context, first.id, dealer_id=None)

    done = run("key", "list", "--json", database_url=database_url)
    assert (done.returncode, done.stderr) == (0, "")
    listed = json.loads(done.stdout)
    for entry in listed:
        assert ISO.fullmatch(entry.pop("created")), entry
    assert ISO.fullmatch(listed[0].pop("last_used")) and ISO.fullmatch(listed[0].pop("revoked"))
    assert listed == [
        {"id": 1, "dealer_id": 1, "dealer_login": "d1", "label": "Alarms"},
        {"id": 2, "dealer_id": 2, "dealer_login": "d2", "label": "", "last_used": None,
         "revoked": None}]

    done = run("key", "list", "--dealer", "d2", database_url=database_url)
    assert done.returncode == 0, done.stderr
    header, row, *rest = done.stdout.splitlines()
    assert header.split() == ["id", "dealer", "label", "created", "last", "used", "revoked"]
    assert (row.split()[:2], row.split()[3:], rest) == (["2", "d2"], ["-", "-"], [])
    assert first.key not in done.stdout

    done = run("key", "list", "--dealer", "ghost", database_url=database_url)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "navixy-panel: dealer 'ghost' does not exist\n")


async def test_revoke(api: Api, database_url: str) -> None:
    await api.dealer("d1")
    context = api.client.app[app_keys.CONTEXT]
    created = await keys.create_key_for_login(context, "d1", "")
    done = run("key", "revoke", str(created.id), database_url=database_url)
    assert (done.returncode, done.stdout, done.stderr) == (0, '{"id": 1, "revoked": true}\n', "")
    with pytest.raises(BadCredentials):
        await keys.authenticate(context, created.key)
    revoked_at = (await api.sql("SELECT revoked_at FROM submission_keys"))[0].revoked_at
    # Revoking again is done already: the first time is kept.
    done = run("key", "revoke", "1", database_url=database_url)
    assert (done.returncode, done.stdout) == (0, '{"id": 1, "revoked": true}\n'), done.stderr
    assert (await api.sql("SELECT revoked_at FROM submission_keys"))[0].revoked_at == revoked_at

    for unknown in ("2", "0", str(2**64)):
        done = run("key", "revoke", unknown, database_url=database_url)
        assert (done.returncode, done.stdout, done.stderr) == (
            1, "", f"navixy-panel: key {unknown} does not exist\n")
    done = run("key", "revoke", "one", database_url=database_url)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr

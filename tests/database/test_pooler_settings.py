"""NAVIXY_PANEL_DATABASE_DIRECT_URL and NAVIXY_PANEL_DATABASE_POOLER: what is refused
at start, and which mode each combination gives."""

from __future__ import annotations

import pytest

from navixy_panel import deployment
from navixy_panel.db import pooling
from navixy_panel.settings import Settings, SettingsError

POOLED = "postgresql://app:pw@pgbouncer.internal:6432/panel"
DIRECT = "postgresql://app:pw@db.internal:5432/panel"


def problems(**environ: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    return caught.value.problems


def test_the_direct_url_is_parsed_and_defaults_to_database_url() -> None:
    given = Settings.from_env({"DATABASE_URL": POOLED,
                               "NAVIXY_PANEL_DATABASE_DIRECT_URL": DIRECT})
    assert given.database_direct_url == "postgresql+asyncpg://app:pw@db.internal:5432/panel"
    assert deployment.database(given).direct(POOLED) == given.database_direct_url
    assert given.database_pooler == "auto"
    alone = Settings.from_env({"DATABASE_URL": POOLED})
    assert alone.database_direct_url is None
    assert deployment.database(alone).direct(POOLED) == POOLED
    assert Settings.from_env({}).database_direct_url is None


def test_refusals() -> None:
    assert problems(NAVIXY_PANEL_DATABASE_DIRECT_URL=DIRECT) == [
        "NAVIXY_PANEL_DATABASE_DIRECT_URL: set DATABASE_URL too (the direct URL is the way "
        "around its pooler; the embedded PostgreSQL needs neither)"]
    assert problems(DATABASE_URL=POOLED, NAVIXY_PANEL_DATABASE_POOLER="pgbouncer") == [
        "NAVIXY_PANEL_DATABASE_POOLER=pgbouncer: set NAVIXY_PANEL_DATABASE_DIRECT_URL to a "
        "direct connection to the same database (cache invalidation listens there), or turn "
        "the caches off with NAVIXY_PANEL_CACHE=off"]
    assert problems(DATABASE_URL=POOLED, NAVIXY_PANEL_DATABASE_POOLER="odyssey") == [
        "NAVIXY_PANEL_DATABASE_POOLER: must be one of auto, pgbouncer, none, got 'odyssey'"]
    assert problems(DATABASE_URL=POOLED, NAVIXY_PANEL_DATABASE_DIRECT_URL="mysql://x/y") == [
        "NAVIXY_PANEL_DATABASE_DIRECT_URL: must start with postgresql:// "
        "(or postgresql+asyncpg://)"]
    told = Settings.from_env({"DATABASE_URL": POOLED, "NAVIXY_PANEL_DATABASE_POOLER": "pgbouncer",
                              "NAVIXY_PANEL_CACHE": "off"})
    assert (told.database_pooler, told.cache_enabled) == ("pgbouncer", False)


@pytest.mark.parametrize(("choice", "url", "direct", "pooled", "reason"), [
    ("auto", None, None, False, "the embedded PostgreSQL"),
    ("auto", POOLED, None, False,
     "no separate NAVIXY_PANEL_DATABASE_DIRECT_URL (NAVIXY_PANEL_DATABASE_POOLER=auto)"),
    ("auto", POOLED, POOLED, False,
     "no separate NAVIXY_PANEL_DATABASE_DIRECT_URL (NAVIXY_PANEL_DATABASE_POOLER=auto)"),
    ("auto", POOLED, DIRECT, True, "NAVIXY_PANEL_DATABASE_DIRECT_URL differs from "
                                   "DATABASE_URL (NAVIXY_PANEL_DATABASE_POOLER=auto)"),
    ("pgbouncer", POOLED, None, True, "NAVIXY_PANEL_DATABASE_POOLER=pgbouncer"),
    ("none", POOLED, DIRECT, False, "NAVIXY_PANEL_DATABASE_POOLER=none"),
])
def test_the_mode(choice: str, url: str | None, direct: str | None, pooled: bool,
                  reason: str) -> None:
    decided = pooling.decide(choice, url, direct)
    assert (decided.transaction_pooler, decided.reason) == (pooled, reason)
    expected = {"statement_cache_size": 0} if pooled else {}
    assert decided.asyncpg_args() == expected
    assert decided.engine_connect_args() == (
        {**expected, "prepared_statement_cache_size": 0} if pooled else {})

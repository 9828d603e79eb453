"""What every command shares: operator-facing refusals, reading a secret, and
running a use case against the configured database. A leaf: it imports no
other command module."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from navixy_panel.db import migrate
from navixy_panel.db.embedded import EmbeddedPostgres
from navixy_panel.security.secret_box import open_box
from navixy_panel.settings import Settings
from navixy_panel.usecases.context import Context

T = TypeVar("T")


class CommandError(Exception):
    """A refusal meant for the operator, printed without a traceback."""


def read_secret(args: argparse.Namespace, prompt: str = "Password: ") -> str | None:
    if getattr(args, "password", None):
        return str(args.password)
    if getattr(args, "password_stdin", False):
        value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
        value = value.rstrip("\r\n")
        if not value:
            raise CommandError("empty password on standard input")
        return value
    return None


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded server for as long as the command runs."""
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    try:
        yield server.start()
    finally:
        server.stop()


def run_use_case(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    """Migrates, then runs `work` with a use-case context of its own."""
    with database_url(settings) as url:
        migrate.upgrade(url)
        return with_context(url, settings, work)


def with_context(url: str, settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    """Blocking: runs `work` on its own short-lived engine (no caches: nothing to keep)."""

    async def runner() -> T:
        engine = create_async_engine(url, hide_parameters=True)
        try:
            box = open_box(settings.secret_keys, settings.data_dir,
                           embedded=settings.database_url is None)
            return await work(Context(settings, async_sessionmaker(engine,
                                                                   expire_on_commit=False), box))
        finally:
            await engine.dispose()

    return asyncio.run(runner())

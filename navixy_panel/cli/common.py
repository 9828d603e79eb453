"""What every command shares: operator-facing refusals, start-up checks that turn
a wrong environment into one line, reading a secret, and running a use case
against the configured database. A leaf: it imports no other command module.

Why ~290 lines: each start-up check (port, host, data folder, database, key) is short,
and they belong together, since `serve`, `--workers` and the operator commands all
run them in the same order."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from navixy_panel import deployment
from navixy_panel.db import migrate
from navixy_panel.db.pooling import ONE_SHOT_CONNECT_ARGS
from navixy_panel.settings import Settings
from navixy_panel.usecases.context import Context

T = TypeVar("T")

# How long a DATABASE_URL server has to answer before the command gives up.
DATABASE_TIMEOUT_SECONDS = 5


class CommandError(Exception):
    """A refusal meant for the operator, printed without a traceback (exit status 1)."""


class StartupError(Exception):
    """The environment does not let the command start: one line, exit status 2."""


class Progress:
    """What the command is doing while it starts, so that Ctrl-C then says what it cut
    short in one line (and that running it again is the fix: every start-up step is
    redone or resumed by the next start)."""

    def __init__(self) -> None:
        self.doing: str | None = None

    def interrupted(self) -> str:
        return f"interrupted while {self.doing}; run again" if self.doing else "interrupted"


PROGRESS = Progress()


class Interrupted(Exception):
    """A signal ended the start: one line, exit status 128 + the signal's number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.status = 128 + signum


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


def version() -> str:
    try:
        return metadata.version("navixy-panel")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def print_rows(rows: Sequence[Mapping[str, object]], columns: Sequence[tuple[str, str]], *,
               as_json: bool) -> None:
    """What every listing command prints: a JSON array with --json, else a table."""
    if as_json:
        print(json.dumps(rows))
        return
    print_table(rows, columns)


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[tuple[str, str]]) -> None:
    """Aligned columns under a header line; none shows as -, booleans as yes/no."""

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    table = [[title for title, _ in columns]]
    table += [[cell(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(columns))]
    for line in table:
        print("  ".join(text.ljust(width) for text, width in zip(line, widths,
                                                                   strict=True)).rstrip())


def masked(url: str) -> str:
    """A database URL as the operator wrote it, password hidden."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql")
    return parsed.render_as_string(hide_password=True)


# ---------------------------------------------------------------- start-up checks

def check_listen(host: str, port: int) -> None:
    """Binds (and releases) every address `host` resolves to, so a wrong host or a
    taken port is reported before the database is started."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(
            f"cannot listen on {host}:{port}: the host {host!r} does not resolve "
            f"({exc.strerror}); give --host an address of this machine, e.g. 127.0.0.1 "
            "(this machine only) or 0.0.0.0 (every interface)") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            if os.name == "posix":  # as asyncio does: a port in TIME_WAIT is not "in use"
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise StartupError(describe_listen_error(exc, host, port)) from None


def describe_listen_error(error: OSError, host: str, port: int) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return (f"{where}: the port is already in use (another navixy-panel?); stop what "
                "listens there or choose another port with --port")
    if error.errno == errno.EACCES:
        return (f"{where}: permission denied (ports below 1024 need privileges); choose "
                "a port from 1024 up with --port")
    if error.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this machine; give --host one "
                "that is, e.g. 127.0.0.1 or 0.0.0.0")
    return f"{where}: {error.strerror or error}"


def check_data_dir(data_dir: Path) -> bool:
    """Makes sure the data directory is a directory this user can write; returns
    whether it had to be created."""
    folder = data_dir.resolve()
    if folder.exists() and not folder.is_dir():
        raise StartupError(f"the data directory {folder} is not a directory; set "
                           "NAVIXY_PANEL_DATA_DIR to a folder (it is created if missing)")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StartupError(f"cannot write to the data directory {folder} "
                           f"({exc.strerror or exc}); set NAVIXY_PANEL_DATA_DIR to a folder "
                           "this user can write") from None
    return created


def embedded_database_exists(data_dir: Path) -> bool:
    return (data_dir.resolve() / "pgdata" / "PG_VERSION").exists()


def check_database(url: str, seconds: float = DATABASE_TIMEOUT_SECONDS,
                   variable: str = "DATABASE_URL") -> bool:
    """Connects to a DATABASE_URL server within `seconds`; returns whether the
    database has no schema yet (the migrations will create it)."""

    async def probe() -> bool:
        engine = create_async_engine(url, connect_args={"timeout": seconds,
                                                        **ONE_SHOT_CONNECT_ARGS})
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    text("SELECT to_regclass('alembic_version') IS NULL"))
                return bool(result.scalar())
        finally:
            await engine.dispose()

    try:
        return asyncio.run(asyncio.wait_for(probe(), seconds + 1))
    except Exception as exc:  # whatever the driver raises, the operator gets one line
        raise StartupError(f"cannot use the database {masked(url)}: {_reason(exc, seconds)}; "
                           f"check {variable} and that PostgreSQL is running there") from None


def _reason(error: BaseException, seconds: float) -> str:
    chain = [error]  # SQLAlchemy wraps the driver's error, which may wrap the OS's
    while len(chain) < 10:
        inner = getattr(chain[-1], "orig", None) or chain[-1].__cause__
        if inner is None or inner in chain:
            break
        chain.append(inner)
    if any(isinstance(each, TimeoutError) for each in chain):
        return f"no answer within {seconds:g} s"
    cause = next(each for each in reversed(chain)
                 if not isinstance(each, asyncio.CancelledError))
    if isinstance(cause, socket.gaierror):
        return f"the host name does not resolve ({cause.strerror})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (nothing listens at that host and port)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    message = " ".join(str(cause).split())
    return message or type(cause).__name__


@dataclass(frozen=True, slots=True)
class Store:
    """Which database a command uses and whether it is new (described before it is
    started, so the words say what is about to happen)."""

    url: str | None  # DATABASE_URL, or None for the embedded server
    data_dir: Path
    created: bool

    def describe(self) -> str:
        if self.url is not None:
            return (f"database {masked(self.url)} (DATABASE_URL)"
                    + (": empty, creating the schema" if self.created else ""))
        source = ("set by NAVIXY_PANEL_DATA_DIR"
                  if os.environ.get("NAVIXY_PANEL_DATA_DIR", "").strip()
                  else "NAVIXY_PANEL_DATA_DIR unset: ./.navixy-panel in the current folder")
        if self.created:
            return f"creating a new database in {self.data_dir} ({source})"
        return f"database in {self.data_dir} (embedded PostgreSQL; {source})"


def startup_line(store: Store) -> str:
    """The first line `serve` prints: the version and the database in use."""
    return f"navixy-panel {version()}: {store.describe()}"


def check_store(settings: Settings, *, create: bool = True) -> Store:
    """The checks every command that opens the database runs first."""
    chosen = deployment.database(settings)
    if chosen.url is not None:
        if chosen.direct_url and chosen.direct_url != chosen.url:  # LISTEN and migrations
            check_database(chosen.direct_url, variable="NAVIXY_PANEL_DATABASE_DIRECT_URL")
        return Store(chosen.url, settings.data_dir.resolve(), check_database(chosen.url))
    exists = embedded_database_exists(settings.data_dir)
    if not exists and not create:
        raise StartupError(
            f"no database in {settings.data_dir.resolve()}: run this command from the folder "
            "where `navixy-panel serve` runs, or set NAVIXY_PANEL_DATA_DIR (or DATABASE_URL) "
            "as it has it")
    check_data_dir(settings.data_dir)
    return Store(None, settings.data_dir.resolve(), not exists)


def check_start(settings: Settings) -> Store:
    """`serve`'s checks of the database and the secret key, cheapest first."""
    if not deployment.embedded(settings):
        deployment.secret_box(settings)  # required with DATABASE_URL: no need to connect first
        return check_store(settings)
    store = check_store(settings)  # the generated key lives in the data directory
    deployment.secret_box(settings)
    return store


# ---------------------------------------------------------------- running commands

@contextmanager
def database_url(settings: Settings, *, create: bool = True) -> Iterator[str]:
    """DATABASE_URL, or the embedded server for as long as the command runs. Says so
    on stderr when it creates a new embedded database (likely the wrong folder)."""
    store = check_store(settings, create=create)
    chosen = deployment.database(settings)
    if chosen.server is not None:
        PROGRESS.doing = "creating the database" if store.created else "starting the database"
    url = chosen.start()
    PROGRESS.doing = None
    if store.created and chosen.server is not None:
        print(f"navixy-panel: {store.describe()}; the service uses the database of the "
              "folder it runs in", file=sys.stderr)
    try:
        yield url
    finally:
        chosen.stop()


def run_use_case(settings: Settings, work: Callable[[Context], Awaitable[T]], *,
                 create: bool = True) -> T:
    """Migrates, then runs `work` with a use-case context of its own."""
    with database_url(settings, create=create) as url:
        PROGRESS.doing = "upgrading the database schema"
        migrate.upgrade(deployment.database(settings).direct(url))
        PROGRESS.doing = None
        return with_context(url, settings, work)


def with_context(url: str, settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    """Blocking: runs `work` on its own short-lived engine (no caches: nothing to keep)."""

    async def runner() -> T:
        engine = create_async_engine(url, hide_parameters=True,
                                     connect_args=ONE_SHOT_CONNECT_ARGS)
        try:
            box = deployment.secret_box(settings, required=False)
            return await work(Context(settings, async_sessionmaker(engine,
                                                                   expire_on_commit=False), box))
        finally:
            await engine.dispose()

    return asyncio.run(runner())

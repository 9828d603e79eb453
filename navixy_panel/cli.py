"""The `navixy-panel` command: serve, migrate, and the operator's commands.

Settings are parsed here once and passed down; a bad environment ends the
command with one line per problem and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from navixy_panel import logs, permissions
from navixy_panel.db import migrate
from navixy_panel.db.embedded import EmbeddedPostgres
from navixy_panel.security.secret_box import SecretKeyError
from navixy_panel.settings import Settings, SettingsError

T = TypeVar("T")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings)
    try:
        args.run(args, settings)
    except (CommandError, SecretKeyError) as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(1)


class CommandError(Exception):
    """A refusal meant for the operator, printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navixy-panel", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true",
                       help="seed demo dealers and gateways into an empty database")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not upgrade the schema at start")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="N processes sharing the port (SO_REUSEPORT, Linux)")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="upgrade the schema to the latest migration"
                        ).set_defaults(run=_migrate)

    dealer = commands.add_parser("dealer", help="manage dealers").add_subparsers(
        required=True, metavar="action")
    create = dealer.add_parser("create", help="create a dealer")
    create.add_argument("--login", required=True)
    create.add_argument("--parent", metavar="LOGIN")
    _dealer_options(create)
    create.set_defaults(run=_dealer_create)
    change = dealer.add_parser("update", help="change a dealer; a new password or a "
                               "blocking status ends its sessions")
    change.add_argument("login")
    _dealer_options(change)
    change.set_defaults(run=_dealer_update)

    from navixy_panel import cli_gateways  # imports this module's helpers

    cli_gateways.add_commands(commands)
    return parser


def _dealer_options(parser: argparse.ArgumentParser) -> None:
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    secret.add_argument("--password", help="the password (visible to other local users; "
                        "prefer --password-stdin)")
    parser.add_argument("--title")
    parser.add_argument("--domain")
    parser.add_argument("--permissions", metavar="JSON|all",
                        help="'all' for Navixy's whole catalogue, or {category: [op, ...]}")
    parser.add_argument("--block-status",
                        choices=["NOT_BLOCKED", "INITIAL_BLOCK", "BLOCK_LOGIN", "CLIENTS_BLOCKED"])


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


def run_in_transaction(settings: Settings,
                       work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrates, then runs `work` in one committed transaction."""
    with database_url(settings) as url:
        migrate.upgrade(url)
        return in_transaction(url, work)


def in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Blocking: runs `work` in one committed transaction on its own short-lived engine."""

    async def runner() -> T:
        engine = create_async_engine(url, hide_parameters=True)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    from aiohttp import web

    from navixy_panel.app import create_app
    from navixy_panel.demo import demo_ctx

    if args.workers > 1:
        from navixy_panel import workers

        workers.run(args, settings)
        return
    settings = dataclasses.replace(settings, migrate_on_start=not args.no_migrate)
    app = create_app(settings)
    if args.demo:
        app.cleanup_ctx.append(demo_ctx(args.port))
    web.run_app(app, host=args.host, port=args.port, loop=new_event_loop(),
                **logs.RUNNER_KWARGS, reuse_port=args.reuse_port or None,
                shutdown_timeout=30,
                print=lambda message: print(message, flush=True))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: its faster I/O loop lowers latency for every request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    with database_url(settings) as url:
        migrate.upgrade(url)
    print("schema is at the latest migration")


def _permissions(args: argparse.Namespace) -> dict[str, list[str]] | None:
    if args.permissions is None:
        return None
    try:
        return permissions.parse(args.permissions)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _dealer_create(args: argparse.Namespace, settings: Settings) -> None:
    from navixy_panel.security.passwords import hash_password
    from navixy_panel.services import dealers

    password = read_secret(args)
    if password is None:
        raise CommandError("a password is required: --password-stdin or --password")
    grants = _permissions(args)
    password_hash = hash_password(password)

    async def work(session: AsyncSession) -> dict[str, Any]:
        try:
            dealer = await dealers.create(
                session, login=args.login, password_hash=password_hash, title=args.title or "",
                domain=args.domain, parent_login=args.parent, permissions=grants,
                block_status=args.block_status or "NOT_BLOCKED")
        except dealers.DealerError as exc:
            raise CommandError(str(exc)) from None
        return {"id": dealer.id, "login": dealer.login}

    print(json.dumps(run_in_transaction(settings, work)))


def _dealer_update(args: argparse.Namespace, settings: Settings) -> None:
    from navixy_panel.security.passwords import hash_password
    from navixy_panel.services import dealers

    password = read_secret(args)
    grants = _permissions(args)
    password_hash = hash_password(password) if password is not None else None

    async def work(session: AsyncSession) -> dict[str, Any]:
        try:
            dealer = await dealers.update_dealer(
                session, args.login, password_hash=password_hash, title=args.title,
                domain=args.domain, permissions=grants, block_status=args.block_status)
        except dealers.DealerError as exc:
            raise CommandError(str(exc)) from None
        return {"id": dealer.id, "login": dealer.login, "block_status": dealer.block_status}

    print(json.dumps(run_in_transaction(settings, work)))

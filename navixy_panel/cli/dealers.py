"""`dealer create`, `dealer update`: the operator's dealer commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from navixy_panel.cli.common import CommandError, read_secret, run_use_case
from navixy_panel.domain import permissions
from navixy_panel.settings import Settings
from navixy_panel.usecases import operator
from navixy_panel.usecases.context import Context


def add_commands(commands: Any) -> None:
    dealer = commands.add_parser("dealer", help="manage dealers").add_subparsers(
        required=True, metavar="action")
    create = dealer.add_parser("create", help="create a dealer")
    create.add_argument("--login", required=True)
    create.add_argument("--parent", metavar="LOGIN")
    _dealer_options(create)
    create.set_defaults(run=run_create)
    change = dealer.add_parser("update", help="change a dealer; a new password or a "
                               "blocking status ends its sessions")
    change.add_argument("login")
    _dealer_options(change)
    change.set_defaults(run=run_update)


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


def _permissions(args: argparse.Namespace) -> dict[str, list[str]] | None:
    if args.permissions is None:
        return None
    try:
        return permissions.parse(args.permissions)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def run_create(args: argparse.Namespace, settings: Settings) -> None:
    password = read_secret(args)
    if password is None:
        raise CommandError("a password is required: --password-stdin or --password")
    grants = _permissions(args)

    async def work(ctx: Context) -> dict[str, Any]:
        dealer = await operator.create_dealer(
            ctx, login=args.login, password=password, title=args.title or "",
            domain=args.domain, parent_login=args.parent, permissions=grants,
            block_status=args.block_status or "NOT_BLOCKED")
        return {"id": dealer.id, "login": dealer.login}

    print(json.dumps(run_use_case(settings, work)))


def run_update(args: argparse.Namespace, settings: Settings) -> None:
    password = read_secret(args)
    grants = _permissions(args)

    async def work(ctx: Context) -> dict[str, Any]:
        dealer = await operator.update_dealer(
            ctx, args.login, password=password, title=args.title, domain=args.domain,
            permissions=grants, block_status=args.block_status)
        return {"id": dealer.id, "login": dealer.login, "block_status": dealer.block_status}

    print(json.dumps(run_use_case(settings, work)))

"""`dealer create`, `dealer update`, `dealer unlock`, `dealer list`: the operator's dealer
commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from navixy_panel.cli.common import CommandError, print_rows, read_secret, run_use_case
from navixy_panel.domain import permissions
from navixy_panel.domain.dealers import BLOCK_STATUSES, NOT_BLOCKED
from navixy_panel.settings import Settings
from navixy_panel.usecases import operator
from navixy_panel.usecases.context import Context

# What `dealer create` grants without --permissions: every action this service
# serves (all of email_gateways, and notification_settings read/update), and
# nothing of the rest of Navixy's catalogue, which this service does not use.
DEFAULT_PERMISSIONS: dict[str, list[str]] = {
    "email_gateways": list(permissions.CATALOGUE["email_gateways"]),
    "notification_settings": ["read", "update"],
}

PERMISSIONS_HELP = ("'all' for Navixy's whole catalogue, '{}' for none, or a JSON object "
                    "{category: [operation, ...]}, e.g. '{\"email_gateways\": [\"read\"]}'")


def add_commands(commands: Any) -> None:
    dealer = commands.add_parser(
        "dealer", help="create, change and list dealers",
        description="Dealers log in to both API faces. A dealer with --parent is that "
        "dealer's sub-dealer: it may use its parent's leasable gateways.",
    ).add_subparsers(required=True, metavar="ACTION", title="actions")

    create = dealer.add_parser(
        "create", help="create a dealer; prints {\"id\": N, \"login\": \"L\"}",
        description="Create a dealer and print {\"id\": N, \"login\": \"L\"}. Without "
        "--permissions it may do everything this service serves: email_gateways create, "
        "delete, read, send_email, update and notification_settings read, update.")
    create.add_argument("--login", required=True, help="the login name (unique)")
    create.add_argument("--parent", metavar="LOGIN",
                        help="make it a sub-dealer of this dealer (default: a top-level "
                        "dealer)")
    _dealer_options(create, creating=True)
    create.set_defaults(run=run_create)

    change = dealer.add_parser(
        "update", help="change a dealer's password, title, domain, permissions or status",
        description="Change what is given, keep the rest. A new password or a blocking "
        "status ends the dealer's sessions at once.")
    change.add_argument("login", help="the dealer's login")
    _dealer_options(change, creating=False)
    change.set_defaults(run=run_update)

    unlock = dealer.add_parser(
        "unlock", help="let a login locked by failed logins log in again",
        description="Forget the login's failed logins, so it is no longer refused with "
        "code 15 (Webitel 429) before its window ends (NAVIXY_PANEL_LOGIN_FAILURE_WINDOW). "
        "Prints {\"login\": \"L\", \"failures_cleared\": N}. Failures counted per "
        "client address are not cleared: they expire with their window.")
    unlock.add_argument("login", help="the dealer's login")
    unlock.set_defaults(run=run_unlock)

    listing = dealer.add_parser("list", help="list every dealer",
                                description="List every dealer: a table, or JSON with --json.")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a "
                         "table")
    listing.set_defaults(run=run_list)


def _dealer_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    secret = parser.add_mutually_exclusive_group(required=False)
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (one line)")
    secret.add_argument("--password", help="the password (visible to other local users in "
                        "the process list; prefer --password-stdin)")
    keep = "" if creating else " (default: unchanged)"
    parser.add_argument("--title", help="a display name" + (" (default: empty)" if creating
                                                             else keep))
    parser.add_argument("--domain", help="the domain it owns on the Webitel face, e.g. "
                        "fleet.example" + (" (default: none)" if creating else keep))
    default = (" (default: email_gateways and notification_settings, everything this "
               "service serves)") if creating else keep
    parser.add_argument("--permissions", metavar="JSON|all", help=PERMISSIONS_HELP + default)
    parser.add_argument("--block-status",
                        choices=BLOCK_STATUSES,
                        help="INITIAL_BLOCK and BLOCK_LOGIN refuse its logins, CLIENTS_BLOCKED "
                        "only its customers'" + (" (default: NOT_BLOCKED)" if creating else keep))


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
    if grants is None:
        grants = {category: list(ops) for category, ops in DEFAULT_PERMISSIONS.items()}

    async def work(ctx: Context) -> dict[str, Any]:
        dealer = await operator.create_dealer(
            ctx, login=args.login, password=password, title=args.title or "",
            domain=args.domain, parent_login=args.parent, permissions=grants,
            block_status=args.block_status or NOT_BLOCKED)
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


def run_unlock(args: argparse.Namespace, settings: Settings) -> None:
    async def work(ctx: Context) -> dict[str, Any]:
        return {"login": args.login,
                "failures_cleared": await operator.unlock_login(ctx, args.login)}

    print(json.dumps(run_use_case(settings, work, create=False)))


def run_list(args: argparse.Namespace, settings: Settings) -> None:
    dealers = run_use_case(settings, operator.list_dealers, create=False)
    rows = [dataclasses.asdict(dealer) for dealer in dealers]
    print_rows(rows, [("id", "id"), ("login", "login"), ("title", "title"),
                      ("domain", "domain"), ("parent", "parent"), ("status", "block_status"),
                      ("bound gateway", "bound_gateway_id")], as_json=args.json)

"""Operator commands for gateways: `gateway create`, `gateway list`, and re-encrypting
their passwords with the newest key: `rotate-secrets` (`key generate` makes one, in
`keys.py`).

`gateway create` is how a platform operator sets up relays the API refuses,
such as a leasable `mandrill_smtp` gateway (any provider name here is an
SMTP relay, sent to with the same params).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from typing import Any

from marshmallow import ValidationError

from navixy_panel.cli.common import CommandError, print_rows, read_secret, run_use_case
from navixy_panel.domain.errors import MAX_LISTED_ERRORS
from navixy_panel.domain.gateways import GatewayInput
from navixy_panel.domain.smtp_params import PASSWORD, SmtpParamsSchema
from navixy_panel.http.plumbing import flatten
from navixy_panel.settings import Settings
from navixy_panel.usecases import operator
from navixy_panel.usecases.context import Context


def add_commands(commands: Any) -> None:
    gateway = commands.add_parser(
        "gateway", help="create and list gateways as the operator",
        description="Gateways are SMTP relays owned by a dealer. Dealers manage their own "
        "through the API (provider smtp only); the operator also creates relays the API "
        "refuses, such as a leasable mandrill_smtp relay for a platform owner.",
    ).add_subparsers(required=True, metavar="ACTION", title="actions")
    create = gateway.add_parser(
        "create", help="create a gateway for a dealer; prints its id",
        description="Create a gateway owned by --owner (not bound to it) and print "
        "{\"id\": N, ...}. Any provider name is an SMTP relay, sent to with --params.")
    create.add_argument("--owner", required=True, metavar="LOGIN",
                        help="the dealer that owns it")
    create.add_argument("--label", required=True, help="its name, 1 to 100 characters")
    create.add_argument("--provider", default="smtp",
                        help="a name of a-z, 0-9 and _ (default: %(default)s)")
    create.add_argument("--leasable", action="store_true",
                        help="offer it to the owner's direct sub-dealers (default: not)")
    create.add_argument("--params", required=True, metavar="JSON",
                        help="SMTP params in Navixy's keys, e.g. '{\"mail.smtp.host\": "
                        "\"smtp.example.com\", \"mail.smtp.port\": 587}' (see docs/navixy.md "
                        "for every key and its default)")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the SMTP password from standard input (one line)")
    create.set_defaults(run=run_create)

    listing = gateway.add_parser("list", help="list every gateway (never a password)",
                                 description="List every gateway with its owner: a table, "
                                 "or JSON with --json. Passwords are never shown.")
    listing.add_argument("--json", action="store_true",
                         help="one JSON array instead of a table")
    listing.set_defaults(run=run_list)

    audit = gateway.add_parser(
        "audit-auth", help="list gateways still using a password with Microsoft 365 or "
        "Google", description="List the gateways that log in with a password to Microsoft "
        "365 or Google hosts (by host name), with owner, label and how many dealers are "
        "bound to each: Microsoft 365 stops taking basic authentication for SMTP, Google "
        "takes app passwords only. Move them to OAuth (docs/oauth.md). A table, or JSON "
        "with --json.")
    audit.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    audit.set_defaults(run=run_audit_auth)

    commands.add_parser(
        "rotate-secrets", help="re-encrypt every SMTP password with the newest "
        "NAVIXY_PANEL_SECRET_KEY",
        description="Re-encrypt every stored SMTP password with the first key of "
        "NAVIXY_PANEL_SECRET_KEY; prints {\"rotated\": N}. To rotate: prepend a new key "
        "(NEW,OLD), run this, then drop OLD.").set_defaults(run=run_rotate_secrets)


def run_create(args: argparse.Namespace, settings: Settings) -> None:
    try:
        given = json.loads(args.params)
        if not isinstance(given, dict):
            raise ValueError
    except ValueError:
        raise CommandError("--params must be a JSON object") from None
    if PASSWORD in given:
        raise CommandError("give the SMTP password on standard input (--password-stdin), "
                           "not in --params")
    password = read_secret(args, "SMTP password: ")
    try:
        params = SmtpParamsSchema().load({**given, PASSWORD: password})
    except ValidationError as exc:
        found = list(flatten(exc.messages))
        listed = found[:MAX_LISTED_ERRORS]
        problems = "; ".join(f"{path}: {error}" for path, error in listed)
        if rest := len(found) - len(listed):
            problems += f"; {rest} more not listed"
        raise CommandError(f"invalid params: {problems}") from None
    if not 1 <= len(args.label) <= 100:
        raise CommandError("--label must be 1 to 100 characters")
    if not re.fullmatch(r"[a-z0-9_]{1,50}", args.provider):
        raise CommandError("--provider must be 1 to 50 of a-z, 0-9 and _")
    gateway = GatewayInput(label=args.label, provider=args.provider, leasable=args.leasable,
                           params=params)

    async def work(ctx: Context) -> dict[str, Any]:
        gateway_id = await operator.create_relay(ctx, owner_login=args.owner, gateway=gateway)
        return {"id": gateway_id, "owner": args.owner, "provider": args.provider,
                "leasable": args.leasable}

    print(json.dumps(run_use_case(settings, work)))


def run_rotate_secrets(args: argparse.Namespace, settings: Settings) -> None:
    async def work(ctx: Context) -> dict[str, int]:
        return {"rotated": await operator.rotate_secrets(ctx)}

    print(json.dumps(run_use_case(settings, work)))


def run_list(args: argparse.Namespace, settings: Settings) -> None:
    rows = [dataclasses.asdict(gateway)
            for gateway in run_use_case(settings, operator.list_gateways, create=False)]
    print_rows(rows, [("id", "id"), ("owner", "owner"), ("label", "label"),
                      ("provider", "provider"), ("leasable", "leasable"), ("host", "host")],
               as_json=args.json)


def run_audit_auth(args: argparse.Namespace, settings: Settings) -> None:
    rows = [dataclasses.asdict(gateway)
            for gateway in run_use_case(settings, operator.audit_auth, create=False)]
    print_rows(rows, [("id", "id"), ("owner", "owner"), ("label", "label"), ("host", "host"),
                      ("service", "service"), ("bound dealers", "bound_dealers")],
               as_json=args.json)

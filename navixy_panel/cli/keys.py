"""`key create`, `key list`, `key revoke`: dealers' submission keys; and `key generate`,
the key that encrypts stored SMTP passwords.

A submission key is printed once, by `create`; only its digest is stored, so a lost
key is revoked and replaced, never shown again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from navixy_panel.cli.common import CommandError, print_rows, run_use_case
from navixy_panel.domain.fields import MAX_ID
from navixy_panel.security.secret_box import new_key
from navixy_panel.settings import Settings
from navixy_panel.usecases import keys
from navixy_panel.usecases.context import Context


def add_commands(commands: Any) -> None:
    key = commands.add_parser(
        "key", help="create, list and revoke submission keys; make a NAVIXY_PANEL_SECRET_KEY",
        description="Submission keys let the platform submit a dealer's mail (for that "
        "dealer and its sub-dealers at any depth). `generate` makes the other kind of key: "
        "the one that encrypts stored SMTP passwords.",
    ).add_subparsers(required=True, metavar="ACTION", title="actions")

    create = key.add_parser(
        "create", help="create a submission key; prints {\"id\": N, \"key\": \"...\"}",
        description="Create a submission key for --dealer and print {\"id\": N, \"key\": "
        "\"npk_...\"}. The key is shown this once: only its digest is stored.")
    create.add_argument("--dealer", required=True, metavar="LOGIN",
                        help="the dealer the key submits for")
    create.add_argument("--label", default="",
                        help="what the key is for, at most 100 characters (default: empty)")
    create.set_defaults(run=run_create)

    listing = key.add_parser(
        "list", help="list submission keys (never the keys themselves)",
        description="List submission keys with their dealer, label, and when each was "
        "created, last used and revoked: a table, or JSON with --json.")
    listing.add_argument("--dealer", metavar="LOGIN", help="only this dealer's keys")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a "
                         "table")
    listing.set_defaults(run=run_list)

    revoke = key.add_parser(
        "revoke", help="revoke a submission key by its id",
        description="Revoke a submission key: every instance refuses it from then on. "
        "Prints {\"id\": N, \"revoked\": true}.")
    revoke.add_argument("id", type=int, help="the key's id (from `key list`)")
    revoke.set_defaults(run=run_revoke)

    key.add_parser(
        "generate", help="print a new NAVIXY_PANEL_SECRET_KEY",
        description="Print a new Fernet key for NAVIXY_PANEL_SECRET_KEY (needs no "
        "database). Keep it apart from the database backups: together they reveal the "
        "SMTP passwords, and without it those passwords are lost.",
    ).set_defaults(run=run_generate_key)


def run_generate_key(args: argparse.Namespace, settings: Settings) -> None:
    print(new_key())


def run_create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(ctx: Context) -> keys.CreatedKey:
        return await keys.create_key_for_login(ctx, args.dealer, args.label)

    created = run_use_case(settings, work, create=False)
    print(json.dumps({"id": created.id, "key": created.key}))


def run_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(ctx: Context) -> list[keys.KeyInfo]:
        return await keys.list_keys_for_login(ctx, args.dealer)

    rows = [dataclasses.asdict(key) for key in run_use_case(settings, work, create=False)]
    print_rows(rows, [("id", "id"), ("dealer", "dealer_login"), ("label", "label"),
                      ("created", "created"), ("last used", "last_used"),
                      ("revoked", "revoked")], as_json=args.json)


def run_revoke(args: argparse.Namespace, settings: Settings) -> None:
    if not 1 <= args.id <= MAX_ID:  # no such id can exist; not worth a database start
        raise CommandError(f"key {args.id} does not exist")

    async def work(ctx: Context) -> None:
        await keys.revoke_key(ctx, args.id, dealer_id=None)

    run_use_case(settings, work, create=False)
    print(json.dumps({"id": args.id, "revoked": True}))

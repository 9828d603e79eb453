"""Operator commands for gateways: `gateway create` and `rotate-secrets`.

`gateway create` is how a platform operator sets up relays the API refuses,
such as a leasable `mandrill_smtp` gateway (any provider name here is an
SMTP relay, sent to with the same params).
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel.cli import CommandError, read_secret, run_in_transaction
from navixy_panel.db.models import EmailGateway
from navixy_panel.navixy.validation import flatten
from navixy_panel.security.secret_box import SecretBox, keys_for
from navixy_panel.services import audit, dealers, gateways
from navixy_panel.settings import Settings
from navixy_panel.smtp_params import PASSWORD, SmtpParamsSchema


def add_commands(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="manage gateways as the operator"
                                  ).add_subparsers(required=True, metavar="action")
    create = gateway.add_parser("create", help="create a gateway for a dealer")
    create.add_argument("--owner", required=True, metavar="LOGIN")
    create.add_argument("--label", required=True)
    create.add_argument("--provider", default="smtp")
    create.add_argument("--leasable", action="store_true",
                        help="offer it to the owner's direct sub-dealers")
    create.add_argument("--params", required=True, metavar="JSON",
                        help="SMTP params in Navixy's keys, e.g. '{\"mail.smtp.host\": …}'")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the SMTP password from standard input")
    create.set_defaults(run=_gateway_create)

    commands.add_parser("rotate-secrets", help="re-encrypt every SMTP password with the "
                        "newest NAVIXY_PANEL_SECRET_KEY").set_defaults(run=_rotate_secrets)


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(keys_for(settings.secret_keys, settings.data_dir,
                              embedded=settings.database_url is None))


def _gateway_create(args: argparse.Namespace, settings: Settings) -> None:
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
        problems = "; ".join(f"{e.parameter}: {e.error}" for e in flatten(exc.messages))
        raise CommandError(f"invalid params: {problems}") from None
    if not 1 <= len(args.label) <= 100:
        raise CommandError("--label must be 1 to 100 characters")
    if not re.fullmatch(r"[a-z0-9_]{1,50}", args.provider):
        raise CommandError("--provider must be 1 to 50 of a-z, 0-9 and _")
    box = secret_box(settings)

    async def work(session: AsyncSession) -> dict[str, Any]:
        owner = await dealers.by_login(session, args.owner)
        if owner is None:
            raise CommandError(f"dealer {args.owner!r} does not exist")
        gateway_id = await gateways.create(session, box, owner_id=owner.id,
                                           gateway=gateways.GatewayInput(
                                               label=args.label, provider=args.provider,
                                               leasable=args.leasable, params=params),
                                           actor=audit.OPERATOR)
        return {"id": gateway_id, "owner": owner.login, "provider": args.provider,
                "leasable": args.leasable}

    print(json.dumps(run_in_transaction(settings, work)))


def _rotate_secrets(args: argparse.Namespace, settings: Settings) -> None:
    box = secret_box(settings)

    async def work(session: AsyncSession) -> dict[str, int]:
        rows = (await session.execute(
            select(EmailGateway.id, EmailGateway.password_encrypted)
            .where(EmailGateway.password_encrypted.is_not(None))
            .with_for_update())).all()
        for gateway_id, token in rows:
            assert token is not None  # selected above
            await session.execute(update(EmailGateway).where(EmailGateway.id == gateway_id)
                                  .values(password_encrypted=box.rotate(token)))
        return {"rotated": len(rows)}

    print(json.dumps(run_in_transaction(settings, work)))

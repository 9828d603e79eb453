"""`serve --demo`: a platform owner with a leasable relay and a sub-dealer with
its own gateway, so a new user can call the API at once.

The credentials are fixed so that the README's curl lines work as written;
they are for a local trial only, never for a reachable server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel import keys, permissions
from navixy_panel.db.models import Dealer
from navixy_panel.security.passwords import hash_password_async
from navixy_panel.services import audit, dealers, gateways
from navixy_panel.smtp_params import SmtpParamsSchema

OWNER = ("owner", "owner-demo-password")
DEALER = ("dealer", "dealer-demo-password")


async def seed(session: AsyncSession) -> bool:
    """Seeds only an empty database; returns whether it did."""
    if await session.scalar(select(func.count()).select_from(Dealer)):
        return False
    owner = await dealers.create(session, login=OWNER[0], title="Platform owner",
                                 password_hash=await hash_password_async(OWNER[1]),
                                 domain="owner.example", permissions=permissions.everything())
    await gateways.create(session, None, owner_id=owner.id, gateway=gateways.GatewayInput(
        label="Platform relay", provider="mandrill_smtp", leasable=True,
        params=SmtpParamsSchema().load({"mail.smtp.host": "localhost", "mail.smtp.port": 2525,
                                        "default_from_address": "no-reply@owner.example"})),
        actor=audit.OPERATOR)
    dealer = await dealers.create(session, login=DEALER[0], title="Demo dealer",
                                  password_hash=await hash_password_async(DEALER[1]),
                                  domain="dealer.example", parent_login=OWNER[0],
                                  permissions=permissions.everything())
    own_id = await gateways.create(
        session, None, owner_id=dealer.id, gateway=gateways.GatewayInput(
        label="Own SMTP", provider="smtp", leasable=False,
        params=SmtpParamsSchema().load({"mail.smtp.host": "localhost", "mail.smtp.port": 1025,
                                        "default_from_address": "alerts@dealer.example"})),
        actor=audit.OPERATOR)
    await session.execute(update(Dealer).where(Dealer.id == dealer.id)
                          .values(bound_gateway_id=own_id))
    return True


def demo_ctx(port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with app[keys.SESSIONMAKER].begin() as session:
            seeded = await seed(session)
        _print(seeded, port)
        yield

    return ctx


def _print(seeded: bool, port: int) -> None:
    base = f"http://127.0.0.1:{port}/v2/panel"
    print("demo data " + ("seeded" if seeded else "already present (database not empty)"))
    print(f"  platform owner: login {OWNER[0]!r} password {OWNER[1]!r}")
    print(f"  sub-dealer:     login {DEALER[0]!r} password {DEALER[1]!r}")
    print("try (logs in as the sub-dealer and lists its gateways):")
    print(f"  H=$(curl -s -d 'login={DEALER[0]}&password={DEALER[1]}' {base}/account/auth"
          " | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"hash\"])')"
          f" && curl -s -H \"Authorization: NVX $H\" -X POST {base}/gateways/email/list",
          flush=True)


def seed_and_print(url: str, port: int) -> None:
    """For `serve --workers N`: the parent seeds once, before the workers start."""
    from navixy_panel.cli import in_transaction

    _print(in_transaction(url, seed), port)

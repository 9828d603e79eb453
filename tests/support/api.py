"""Arranging data straight in the database and calling the API over HTTP."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from navixy_panel.db.models import Dealer
from navixy_panel.domain import permissions as catalogue
from navixy_panel.domain.caller import OPERATOR
from navixy_panel.domain.smtp_params import SmtpParamsSchema
from navixy_panel.http import keys
from navixy_panel.security.passwords import hash_password
from navixy_panel.security.secret_box import SecretBox
from navixy_panel.services import dealers
from navixy_panel.services import gateway_store as gateways

PASSWORD = "correct horse battery staple"


@cache
def _hash(password: str) -> str:
    return hash_password(password)


def relay_gateway(**params: Any) -> dict[str, Any]:
    """The `gateway` object of gateways/email/create as a client writes it."""
    return {"label": "relay", "provider": "smtp",
            "params": {"mail.smtp.host": "smtp.example.com", **params}}


def full_params(**overrides: Any) -> dict[str, Any]:
    given = {"mail.smtp.host": "smtp.example.com", **overrides}
    return dict(SmtpParamsSchema().load(given))


class Api:
    def __init__(self, client: TestClient, db: async_sessionmaker[AsyncSession]) -> None:
        self.client = client
        self.db = db

    # -- arranging -------------------------------------------------------
    # Writes made straight in the database reach the app's caches by NOTIFY a
    # moment later; clearing them here makes the next request see the write
    # deterministically (tests/usecases/test_cache.py covers the NOTIFY path itself).
    def invalidate(self) -> None:
        self.client.app[keys.CONTEXT].caches.invalidate_all()

    async def dealer(self, login: str, *, password: str = PASSWORD, parent: str | None = None,
                     permissions: dict[str, list[str]] | None = None,
                     domain: str | None = None, block_status: str = "NOT_BLOCKED") -> int:
        async with self.db.begin() as session:
            dealer = await dealers.create_dealer(
                session, login=login, password_hash=_hash(password), parent_login=parent,
                permissions=catalogue.everything() if permissions is None else permissions,
                domain=domain, block_status=block_status)
        self.invalidate()
        return dealer.id

    async def gateway(self, owner_id: int, label: str = "gw", *, leasable: bool = False,
                      provider: str = "smtp", box: SecretBox | None = None,
                      **params: Any) -> int:
        """Arranged straight through the service (validated like the API does)."""
        async with self.db.begin() as session:
            gateway_id = await gateways.create_gateway(session, box, owner_id=owner_id,
                                                       gateway=gateways.GatewayInput(
                                                           label=label, provider=provider,
                                                           leasable=leasable,
                                                           params=full_params(**params)),
                                                       actor=OPERATOR)
        self.invalidate()
        return gateway_id

    async def bind(self, dealer_id: int, gateway_id: int | None) -> None:
        async with self.db.begin() as session:
            await session.execute(update(Dealer).where(Dealer.id == dealer_id)
                                  .values(bound_gateway_id=gateway_id))
        self.invalidate()

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.db.begin() as session:
            result = await session.execute(text(statement), params)
            rows = list(result.all()) if result.returns_rows else []
        self.invalidate()
        return rows

    async def db_execute(self, statement: str, **params: Any) -> None:
        """A write from outside the service: the app learns of it only by notification."""
        async with self.db.begin() as session:
            await session.execute(text(statement), params)

    async def snapshot(self) -> tuple[list[Any], list[Any]]:
        """Everything a refused request must leave unchanged."""
        gateways = await self.sql("SELECT id, owner_id, label, provider, leasable, params, "
                                  "password_encrypted FROM email_gateways ORDER BY id")
        dealers = await self.sql("SELECT id, bound_gateway_id, email_from, email_footer "
                                 "FROM dealers ORDER BY id")
        return gateways, dealers

    async def login(self, login: str, password: str = PASSWORD) -> str:
        body = await self.ok("account/auth", form={"login": login, "password": password})
        return str(body["hash"])

    # -- calling ---------------------------------------------------------
    async def call(self, action: str, *, hash: str | None = None,
                   form: dict[str, Any] | None = None, json: Any = None,
                   query: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None, method: str = "POST",
                   prefix: str = "/v2/panel/") -> tuple[int, dict[str, Any]]:
        if hash is not None:
            headers = {"Authorization": f"NVX {hash}", **(headers or {})}
        response = await self.client.request(method, prefix + action, data=form, json=json,
                                             params=query, headers=headers)
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()

    async def ok(self, action: str, **kwargs: Any) -> dict[str, Any]:
        status, body = await self.call(action, **kwargs)
        assert (status, body.get("success")) == (200, True), body
        return body

    async def error(self, action: str, code: int, http_status: int,
                    **kwargs: Any) -> dict[str, Any]:
        status, body = await self.call(action, **kwargs)
        assert body["success"] is False, body
        assert (status, body["status"]["code"]) == (http_status, code), body
        return body


async def stored(api: Api) -> list[Any]:
    """Every gateway as stored, password ciphertext included, in id order."""
    return await api.sql("SELECT id, owner_id, label, leasable, params, password_encrypted "
                         "FROM email_gateways ORDER BY id")


async def dealer_tree(api: Api) -> dict[str, int]:
    """grand → parent → (child, sibling), and the grandparent's leasable "grand relay";
    each test adds the gateways its question needs."""
    ids = {"grand": await api.dealer("grand")}
    ids["parent"] = await api.dealer("parent", parent="grand")
    ids["child"] = await api.dealer("child", parent="parent")
    ids["sibling"] = await api.dealer("sibling", parent="parent")
    ids["grand_leasable"] = await api.gateway(ids["grand"], "grand relay", leasable=True)
    return ids


async def send_email(api: Api, h: str, gateway_id: int | None = None) -> tuple[int, dict[str, Any]]:
    """gateways/email/send_email to ops@example.org, through the bound gateway or `gateway_id`."""
    body: dict[str, Any] = {"to": "ops@example.org"}
    if gateway_id is not None:
        body["gateway_id"] = gateway_id
    return await api.call("gateways/email/send_email", hash=h, json=body)

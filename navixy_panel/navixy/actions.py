"""Declaring Navixy actions: path, permission, parameter and response schemas.

An action module owns an `ActionTable` and decorates its handlers, the way
aiohttp's `RouteTableDef` works; the permission an action needs is written
next to it, where a reviewer reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from marshmallow import Schema
from sqlalchemy.ext.asyncio import AsyncSession

from navixy_panel import keys
from navixy_panel.cache import Caches
from navixy_panel.services import audit
from navixy_panel.services.sessions import Caller
from navixy_panel.settings import Settings


@dataclass(slots=True)
class Call:
    """Everything a handler needs for one request (Navixy actions are routes of the
    root app, so `request.app` is where the state lives). The database session is opened
    on first use (a cached answer needs none); its transaction is committed by
    the dispatcher when the handler returns, rolled back when it raises."""

    request: web.Request
    settings: Settings
    params: dict[str, Any]
    caller: Caller | None = None
    _session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.request.app[keys.SESSIONMAKER]()
        return self._session

    @property
    def has_session(self) -> bool:
        return self._session is not None

    @property
    def caches(self) -> Caches:
        return self.request.app[keys.CACHES]

    async def finish(self, commit: bool) -> None:
        if self._session is not None:
            try:
                if commit:
                    await self._session.commit()
            finally:
                await self._session.close()

    @property
    def dealer(self) -> Caller:
        assert self.caller is not None, "action declared without a session"
        return self.caller

    @property
    def client_address(self) -> str:
        return self.request.remote or "unknown"

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.dealer.dealer_id, self.dealer.login, "navixy",
                           self.client_address)


# A handler returns the result fields, or the whole serialized body (cached answers).
Handler = Callable[[Call], Awaitable[dict[str, Any] | bytes]]


@dataclass(frozen=True, slots=True)
class Action:
    path: str
    handler: Handler
    permission: tuple[str, str] | None
    params: type[Schema] | None
    response: type[Schema] | None
    needs_session: bool
    summary: str
    # Whether success may have changed what caches hold (cleared at once locally).
    invalidates: bool = True


@dataclass
class ActionTable:
    actions: dict[str, Action] = field(default_factory=dict)

    def action(self, path: str, *, permission: tuple[str, str] | None = None,
               params: type[Schema] | None = None, response: type[Schema] | None = None,
               needs_session: bool = True,
               invalidates: bool = True) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
            self.actions[path] = Action(path, handler, permission, params, response,
                                        needs_session, summary, invalidates)
            return handler

        return register

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions.values())

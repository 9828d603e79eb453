"""Declaring Navixy actions: path, permission, parameter and response schemas.

An action module owns an `ActionTable` and decorates its handlers, the way
aiohttp's `RouteTableDef` works; the permission an action needs is written
next to it, where a reviewer reads it. Handlers are thin: they turn loaded
parameters into a use case call and its result into Navixy's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from marshmallow import Schema

from navixy_panel.domain.caller import Actor, Caller
from navixy_panel.usecases.context import Context


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it."""

    request: web.Request
    ctx: Context
    params: dict[str, Any]
    _caller: Caller | None = None
    # The answer the action's own session read already rendered, if it did (Action.resolve).
    prefetched: bytes | None = None

    @property
    def caller(self) -> Caller:
        """The session's dealer."""
        assert self._caller is not None, "action declared without a session"
        return self._caller

    @property
    def client_address(self) -> str:
        return self.request.remote or "unknown"

    @property
    def actor(self) -> Actor:
        return Actor(self.caller.dealer_id, self.caller.login, "navixy", self.client_address)


def answer(fields: Mapping[str, Any] | None = None) -> bytes:
    """Navixy's success envelope around an action's result fields: `{"success": true, …}`."""
    return orjson.dumps({"success": True, **(fields or {})})


# A handler returns its whole serialized answer (`answer(...)`, or cached bytes).
Handler = Callable[[Call], Awaitable[bytes]]
# Resolves the session and, in the same statement, what the action answers (or None).
Resolver = Callable[[Context, str], Awaitable[tuple[Caller, bytes | None]]]


@dataclass(frozen=True, slots=True)
class Action:
    path: str
    handler: Handler
    permission: tuple[str, str] | None
    params: type[Schema] | None
    response: type[Schema] | None
    needs_session: bool
    summary: str
    resolve: Resolver | None = None
    # A parameter given empty (`name=`, JSON null) is loaded as None, not as absent.
    empty_is_null: bool = False


@dataclass
class ActionTable:
    actions: dict[str, Action] = field(default_factory=dict)

    def action(self, path: str, *, permission: tuple[str, str] | None = None,
               params: type[Schema] | None = None, response: type[Schema] | None = None,
               needs_session: bool = True,
               resolve: Resolver | None = None,
               empty_is_null: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
            self.actions[path] = Action(path, handler, permission, params, response,
                                        needs_session, summary, resolve, empty_is_null)
            return handler

        return register

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions.values())

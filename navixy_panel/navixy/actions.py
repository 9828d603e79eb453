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


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs 4x
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


# Codes any action can answer: bad body (5), unexpected failure (6), oversized body (9),
# database unavailable (14).
ANY_ACTION_ERRORS = (5, 6, 9, 14)


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
    # Navixy codes that come from what the action does, beyond those of `error_codes`.
    errors: tuple[int, ...] = ()

    @property
    def operation_id(self) -> str:
        """`gateways/email/list` → `gateways_email_list`: the OpenAPI operationId, which
        client generators name methods after, and the handler's name."""
        return operation_id(self.path)

    def error_codes(self) -> set[int]:
        """Every Navixy code the action can answer: its own `errors`, those of any action,
        and those of the session (3, 4), permission (13) and parameter (7) checks."""
        codes = set(ANY_ACTION_ERRORS) | set(self.errors)
        if self.needs_session:
            codes |= {3, 4}
        if self.permission is not None:
            codes.add(13)
        if self.params is not None:
            codes.add(7)
        return codes


def operation_id(path: str) -> str:
    return path.replace("/", "_")


@dataclass
class ActionTable:
    actions: dict[str, Action] = field(default_factory=dict)

    def action(self, path: str, *, permission: tuple[str, str] | None = None,
               params: type[Schema] | None = None, response: type[Schema] | None = None,
               needs_session: bool = True, resolve: Resolver | None = None,
               empty_is_null: bool = False,
               errors: tuple[int, ...] = ()) -> Callable[[Handler], Handler]:
        """Declares the action at `path`; `errors` lists the codes its own work can answer
        (see `Action.error_codes` for the rest). The handler is named after its
        operationId, so a reader finds one from the other."""

        def register(handler: Handler) -> Handler:
            if handler.__name__ != operation_id(path):
                raise ValueError(f"the handler of {path} must be named {operation_id(path)}")
            summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
            self.actions[path] = Action(path, handler, permission, params, response,
                                        needs_session, summary, resolve, empty_is_null, errors)
            return handler

        return register

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions.values())

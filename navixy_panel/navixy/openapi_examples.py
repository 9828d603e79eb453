"""Examples for the Navixy face's part of the OpenAPI document: one request and answer
per action, shown by /docs and sent first by schemathesis.

Data, kept apart from `navixy/openapi.py`: tests load every request example through the
schema the service loads it with, and check every answer against the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navixy_panel.domain.smtp_params import public_params
from navixy_panel.http.openapi_parts import (
    EXAMPLE_PERMISSIONS,
    EXAMPLE_RECIPIENT,
    EXAMPLE_SENDER,
)

_NEW_GATEWAY: dict[str, Any] = {
    "label": "Office relay", "provider": "smtp", "leasable": False,
    "params": {"mail.smtp.host": "smtp.dealer.example", "mail.smtp.port": 587,
               "mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True,
               "mail.smtp.auth": True, "mail.smtp.user": EXAMPLE_SENDER,
               "mail.smtp.password": "app-password-1234", "default_from_address": EXAMPLE_SENDER},
}
# What `list` answers for it: every key (defaults filled in), the password null.
_STORED_GATEWAY: dict[str, Any] = {
    "id": 3, "leasable": False, "label": "Office relay", "provider": "smtp",
    "params": public_params(_NEW_GATEWAY["params"]),
}


# An OAuth 2.0 (XOAUTH2) gateway for Microsoft 365: the password is the client secret.
_OAUTH_GATEWAY: dict[str, Any] = {
    "label": "Microsoft 365", "provider": "smtp", "leasable": False,
    "params": {"mail.smtp.host": "smtp.office365.com", "mail.smtp.port": 587,
               "mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True,
               "mail.smtp.auth": True, "mail.smtp.user": EXAMPLE_SENDER,
               "mail.smtp.password": "client-secret-value",
               "mail.smtp.auth.mechanisms": "XOAUTH2",
               "mail.smtp.auth.xoauth2.token_url":
                   "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000"
                   "/oauth2/v2.0/token",
               "mail.smtp.auth.xoauth2.client_id": "11111111-2222-3333-4444-555555555555",
               "default_from_address": EXAMPLE_SENDER},
}


_NOTIFICATION_SETTINGS: dict[str, Any] = {
    "email_from": f"Dealer fleet <{EXAMPLE_SENDER}>",
    "email_footer": "-- Dealer fleet, +1 555 0100",
    "email_special": "reports@dealer.example", "sms_originator": "Dealer fleet",
    "caller_id": "15550100"}


@dataclass(frozen=True, slots=True)
class NavixyExample:
    params: dict[str, Any] | None  # as a JSON body; `encode_example` makes the form body
    answer: dict[str, Any]  # the result fields, without `success`


EXAMPLES: dict[str, NavixyExample] = {
    "account/auth": NavixyExample(
        {"login": "dealer", "password": "dealer-demo-password"},
        {"hash": "22eac1c27af4be7b9d04da2ce1af111b", "permissions": EXAMPLE_PERMISSIONS}),
    "account/get_permissions": NavixyExample(None, {"permissions": EXAMPLE_PERMISSIONS}),
    "account/logout": NavixyExample(None, {}),
    "gateways/email/list": NavixyExample(None, {
        "bound_gateway": 3, "own": [_STORED_GATEWAY, {
            "id": 4, "leasable": False, "label": "Microsoft 365", "provider": "smtp",
            "params": public_params(_OAUTH_GATEWAY["params"])}],
        "leasable": [{"id": 1, "label": "Platform relay", "provider": "mandrill_smtp",
                      "default_from_address": "no-reply@owner.example"}]}),
    "gateways/email/create": NavixyExample({"gateway": _NEW_GATEWAY}, {"id": 3}),
    "gateways/email/update": NavixyExample({"gateway": {
        # the whole object as `list` returned it; the null password keeps the stored one
        **{key: value for key, value in _STORED_GATEWAY.items() if key != "params"},
        "label": "Office relay (backup)",
        "params": _STORED_GATEWAY["params"] | {"mail.smtp.timeout": 30000}}}, {}),
    "gateways/email/delete": NavixyExample({"gateway_id": 3}, {}),
    "gateways/email/bind": NavixyExample({"gateway_id": 3}, {}),
    "gateways/email/send_email": NavixyExample({"to": EXAMPLE_RECIPIENT, "gateway_id": 3}, {}),
    "gateways/email/check": NavixyExample({"gateway_id": 3, "to": EXAMPLE_RECIPIENT}, {
        "passed": False,
        "stages": [
            {"stage": "connect", "result": "pass", "ms": 41, "code": 220, "error": None},
            {"stage": "ehlo", "result": "pass", "ms": 38, "code": 250, "error": None},
            {"stage": "tls", "result": "pass", "ms": 95, "code": 220, "error": None},
            {"stage": "auth", "result": "fail", "ms": 212, "code": 535,
             "error": "the server refused the login (reply code 535)"}],
        "extensions": ["8BITMIME", "AUTH", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE"],
        "auth_mechanisms": ["LOGIN", "XOAUTH2"],
        "certificate": {"subject": "CN=smtp.dealer.example",
                        "issuer": "CN=R11,O=Let's Encrypt,C=US",
                        "expires": "2026-03-01T12:00:00+00:00"}}),
    "gateways/email/audit": NavixyExample({"limit": 20, "offset": 0}, {"list": [
        {"id": 12, "time": "2025-03-14T09:26:53.589793+00:00", "actor": "dealer",
         "face": "navixy", "client_address": "203.0.113.7", "action": "gateway.update",
         "gateway_id": 3, "changes": {"label": ["Office relay", "Office relay (backup)"],
                                      "mail.smtp.timeout": [60000, 30000]}},
        {"id": 11, "time": "2025-03-14T09:20:11.104226+00:00", "actor": "dealer",
         "face": "navixy", "client_address": "203.0.113.7", "action": "gateway.bind",
         "gateway_id": 3, "changes": {"bound_gateway": [1, 3]}},
    ], "count": 12}),
    "gateways/email/keys/list": NavixyExample(None, {"list": [
        {"id": 7, "label": "Alarms", "created": "2025-03-14T09:26:53.589793+00:00",
         "last_used": "2025-03-15T17:02:11.018244+00:00"},
        {"id": 9, "label": "", "created": "2025-03-16T08:00:00.000000+00:00",
         "last_used": None}]}),
    "gateways/email/keys/create": NavixyExample(
        {"label": "Alarms"},
        {"id": 7, "key": "npk_" + "Zx3vQ8m2LtR5kW9yB1cN7dF4hJ6pS0aE2gU8iO3qT5w"}),
    "gateways/email/keys/delete": NavixyExample({"key_id": 7}, {}),
    "gateways/email/messages/list": NavixyExample({"limit": 20, "offset": 0}, {"list": [
        {"id": "1042", "created": "2025-03-14T09:26:53.589793Z", "priority": "alarm",
         "status": "sent", "to": [EXAMPLE_RECIPIENT], "subject": "Alarm: vehicle 7 left the zone",
         "gateway_id": 3, "attempts": 1, "next_attempt": None,
         "last_reply": {"code": 250, "text": "2.0.0 Ok: queued as 4BQ2xL"},
         "finished": "2025-03-14T09:26:53.702114Z"},
    ], "count": 1}),
    "gateways/email/messages/read": NavixyExample({"message_id": "1042"}, {"value": {
        "id": "1042", "dealer_id": 2, "status": "sent", "reason": None, "priority": "alarm",
        "created": "2025-03-14T09:26:53.589793Z", "finished": "2025-03-14T09:26:53.702114Z",
        "subject": "Alarm: vehicle 7 left the zone", "to": [EXAMPLE_RECIPIENT], "gateway_id": 3,
        "attempts": [{"time": "2025-03-14T09:26:53.700123Z", "gateway_id": 3, "stage": "data",
                      "reply_code": 250, "reply_text": "2.0.0 Ok: queued as 4BQ2xL",
                      "duration_ms": 41, "kind": None}],
        "recipients": [{"address": EXAMPLE_RECIPIENT, "status": "sent", "reply_code": 250}]}}),
    "gateways/email/health": NavixyExample(None, {"list": [
        {"id": 3, "state": "ok", "last_success": "2025-03-14T09:26:53.702114Z",
         "last_failure": None, "last_failure_kind": None, "queued": 0},
    ]}),
    "dealer/settings/notification/read": NavixyExample(None, {"value": _NOTIFICATION_SETTINGS}),
    "dealer/settings/notification/update": NavixyExample(_NOTIFICATION_SETTINGS, {}),
    "dealer/settings/notification/email/read": NavixyExample(
        None, {"email_from": EXAMPLE_SENDER, "email_footer": "-- Dealer fleet, +1 555 0100"}),
    "dealer/settings/notification/email/update": NavixyExample(
        {"email_from": EXAMPLE_SENDER, "email_footer": "-- Dealer fleet, +1 555 0100"}, {}),
}

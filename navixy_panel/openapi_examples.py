"""Examples for the OpenAPI document: one request and answer per Navixy action and
Webitel operation, shown by /docs and sent first by schemathesis.

Kept apart from `openapi.py` because they are data, not the document's logic, and
tests load every request example through the schema the service loads it with, and
check every answer against the document. Hosts are under `.example` (RFC 2606): an
example sent to a live server mails nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navixy_panel.domain.smtp_params import public_params

# Shown by /docs and sent first by schemathesis; tests load every request example through
# the schema the service loads it with, and check every answer against the document.
# Hosts are under `.example` (RFC 2606): an example sent to a live server mails nobody.

EXAMPLE_DOMAIN, EXAMPLE_RECIPIENT = "dealer.example", "ops@dealer.example"
_SENDER = "alerts@dealer.example"
_EXAMPLE_PERMISSIONS = {"email_gateways": ["create", "delete", "read", "send_email", "update"],
                        "notification_settings": ["read", "update"]}
_NEW_GATEWAY: dict[str, Any] = {
    "label": "Office relay", "provider": "smtp", "leasable": False,
    "params": {"mail.smtp.host": "smtp.dealer.example", "mail.smtp.port": 587,
               "mail.smtp.starttls.enable": True, "mail.smtp.starttls.required": True,
               "mail.smtp.auth": True, "mail.smtp.user": _SENDER,
               "mail.smtp.password": "app-password-1234", "default_from_address": _SENDER},
}
# What `list` answers for it: every key (defaults filled in), the password null.
_STORED_GATEWAY: dict[str, Any] = {
    "id": 3, "leasable": False, "label": "Office relay", "provider": "smtp",
    "params": public_params(_NEW_GATEWAY["params"]),
}


_NOTIFICATION_SETTINGS: dict[str, Any] = {
    "email_from": f"Dealer fleet <{_SENDER}>", "email_footer": "-- Dealer fleet, +1 555 0100",
    "email_special": "reports@dealer.example", "sms_originator": "Dealer fleet",
    "caller_id": "15550100"}


@dataclass(frozen=True, slots=True)
class NavixyExample:
    params: dict[str, Any] | None  # as a JSON body; `encode_example` makes the form body
    answer: dict[str, Any]  # the result fields, without `success`


NAVIXY_EXAMPLES: dict[str, NavixyExample] = {
    "account/auth": NavixyExample(
        {"login": "dealer", "password": "dealer-demo-password"},
        {"hash": "22eac1c27af4be7b9d04da2ce1af111b", "permissions": _EXAMPLE_PERMISSIONS}),
    "account/get_permissions": NavixyExample(None, {"permissions": _EXAMPLE_PERMISSIONS}),
    "account/logout": NavixyExample(None, {}),
    "gateways/email/list": NavixyExample(None, {
        "bound_gateway": 3, "own": [_STORED_GATEWAY],
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
    "gateways/email/audit": NavixyExample({"limit": 20, "offset": 0}, {"list": [
        {"id": 12, "time": "2025-03-14T09:26:53.589793+00:00", "actor": "dealer",
         "face": "navixy", "client_address": "203.0.113.7", "action": "gateway.update",
         "gateway_id": 3, "changes": {"label": ["Office relay", "Office relay (backup)"],
                                      "mail.smtp.timeout": [60000, 30000]}},
        {"id": 11, "time": "2025-03-14T09:20:11.104226+00:00", "actor": "dealer",
         "face": "navixy", "client_address": "203.0.113.7", "action": "gateway.bind",
         "gateway_id": 3, "changes": {"bound_gateway": [1, 3]}},
    ], "count": 12}),
    "dealer/settings/notification/read": NavixyExample(None, {"value": _NOTIFICATION_SETTINGS}),
    "dealer/settings/notification/update": NavixyExample(_NOTIFICATION_SETTINGS, {}),
    "dealer/settings/notification/email/read": NavixyExample(
        None, {"email_from": _SENDER, "email_footer": "-- Dealer fleet, +1 555 0100"}),
    "dealer/settings/notification/email/update": NavixyExample(
        {"email_from": _SENDER, "email_footer": "-- Dealer fleet, +1 555 0100"}, {}),
}


_WEBITEL_SETTINGS: dict[str, Any] = {
    "provider": "smtp", "description": "Dealer relay", "from": _SENDER,
    "options": {"host": "smtp.dealer.example", "port": 465, "secure": True, "debug": False,
                "tls": {"rejectUnauthorized": True},
                "auth": {"user": _SENDER, "pass": "app-password-1234"}},
}
_WEBITEL_ANSWER: dict[str, Any] = {
    "_id": "3", **_WEBITEL_SETTINGS,
    "options": {**_WEBITEL_SETTINGS["options"], "auth": {"user": _SENDER, "pass": None}},
    "domain": EXAMPLE_DOMAIN,
}
WEBITEL_EXAMPLES: dict[str, dict[str, Any]] = {
    "login": {"username": f"dealer@{EXAMPLE_DOMAIN}", "password": "dealer-demo-password"},
    "login_answer": {
        "key": "6f1c2a9e-4b7d-4f0e-9a51-0c3d8e2b7f14",
        "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NjczMTIwMDAwMDAsImsiOiI5Yz"
                 "FkNGU3ZjJhOGIzYzZkNWUwZjFhMmIzYzRkNWU2ZiIsInN1YiI6IjIifQ.mzMN64Z16a0d2YHL7m_n"
                 "-KknklYrxO09wMlVV1VuCbs",
        "expires": 1767312000000, "domain": EXAMPLE_DOMAIN, "acl": _EXAMPLE_PERMISSIONS},
    "settings": _WEBITEL_SETTINGS,
    "settings_answer": _WEBITEL_ANSWER,
    # PUT back what GET answered (`_id`, `domain` are ignored; a null pass keeps the stored one)
    "replacement": {**_WEBITEL_ANSWER, "description": "Dealer relay (backup)"},
    "replaced_answer": {**_WEBITEL_ANSWER, "description": "Dealer relay (backup)"},
    "sent_answer": {"status": "OK", "info": {
        "messageId": "<174195161358.2841.1539746203856924151@dealer.example>",
        "response": "250 2.0.0 Ok: queued as 4Xk2Lq0zYh"}},
}
WEBITEL_ERROR_EXAMPLES = {
    400: "Bad request (domain required).",
    401: "Invalid token",
    403: "Permission denied!",
    404: "Not found.",
    409: "Conflict: sub-dealers are bound to this gateway",
    413: "Request too large.",
    429: "Too many requests",
    500: "Unexpected error",
    502: "Failed sending email: the server replied 535 5.7.8 Authentication credentials "
         "invalid",
    503: "Database unavailable",
}

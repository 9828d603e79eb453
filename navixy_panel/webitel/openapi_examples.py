"""Examples for the Webitel face's part of the OpenAPI document: one request and answer
per operation, and one answer per error status, shown by /docs and sent first by
schemathesis.

Data, kept apart from `webitel/openapi.py`: tests load every request example through the
schema the service loads it with, and check every answer against the document.
"""

from __future__ import annotations

from typing import Any

from navixy_panel.http.openapi_parts import (
    EXAMPLE_DOMAIN,
    EXAMPLE_PERMISSIONS,
    EXAMPLE_SENDER,
)

_WEBITEL_SETTINGS: dict[str, Any] = {
    "provider": "smtp", "description": "Dealer relay", "from": EXAMPLE_SENDER,
    "options": {"host": "smtp.dealer.example", "port": 465, "secure": True, "debug": False,
                "tls": {"rejectUnauthorized": True},
                "auth": {"user": EXAMPLE_SENDER, "pass": "app-password-1234"}},
}
_WEBITEL_ANSWER: dict[str, Any] = {
    "_id": "3", **_WEBITEL_SETTINGS,
    "options": {**_WEBITEL_SETTINGS["options"], "auth": {"user": EXAMPLE_SENDER, "pass": None}},
    "domain": EXAMPLE_DOMAIN,
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "login": {"username": f"dealer@{EXAMPLE_DOMAIN}", "password": "dealer-demo-password"},
    "login_answer": {
        "key": "6f1c2a9e-4b7d-4f0e-9a51-0c3d8e2b7f14",
        "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NjczMTIwMDAwMDAsImsiOiI5Yz"
                 "FkNGU3ZjJhOGIzYzZkNWUwZjFhMmIzYzRkNWU2ZiIsInN1YiI6IjIifQ.mzMN64Z16a0d2YHL7m_n"
                 "-KknklYrxO09wMlVV1VuCbs",
        "expires": 1767312000000, "domain": EXAMPLE_DOMAIN, "acl": EXAMPLE_PERMISSIONS},
    "settings": _WEBITEL_SETTINGS,
    "settings_answer": _WEBITEL_ANSWER,
    # PUT back what GET answered (`_id`, `domain` are ignored; a null pass keeps the stored one)
    "replacement": {**_WEBITEL_ANSWER, "description": "Dealer relay (backup)"},
    "replaced_answer": {**_WEBITEL_ANSWER, "description": "Dealer relay (backup)"},
    "sent_answer": {"status": "OK", "info": {
        "messageId": "<174195161358.2841.1539746203856924151@dealer.example>",
        "response": "250 2.0.0 Ok: queued as 4Xk2Lq0zYh"}},
    "check_answer": {"status": "OK", "info": {
        "passed": True,
        "stages": [
            {"stage": "connect", "result": "pass", "ms": 12, "code": None, "error": None},
            {"stage": "tls", "result": "pass", "ms": 58, "code": 220, "error": None},
            {"stage": "ehlo", "result": "pass", "ms": 9, "code": 250, "error": None},
            {"stage": "auth", "result": "pass", "ms": 120, "code": 235, "error": None},
            {"stage": "mail_from", "result": "pass", "ms": 8, "code": 250, "error": None},
            {"stage": "rcpt_to", "result": "pass", "ms": 11, "code": 250, "error": None},
            {"stage": "rset", "result": "pass", "ms": 5, "code": 250, "error": None}],
        "extensions": ["8BITMIME", "AUTH", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE"],
        "auth_mechanisms": ["LOGIN", "PLAIN"],
        "certificate": {"subject": "CN=smtp.dealer.example",
                        "issuer": "CN=R11,O=Let's Encrypt,C=US",
                        "expires": "2026-03-01T12:00:00+00:00"}}},
}
ERROR_EXAMPLES = {
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

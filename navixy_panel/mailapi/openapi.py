"""The submission API's part of the OpenAPI document: `/mail/v1/messages`.

The body's schema is the one that loads it (`schemas.SubmissionSchema`); the answers
and the error statuses are written here, with one example each."""

from __future__ import annotations

from typing import Any

from navixy_panel.http.openapi_parts import (
    EXAMPLE_RECIPIENT,
    JSON,
    NULL_STRING,
    STRING,
    Builder,
    closed,
    media,
    ref,
)
from navixy_panel.mailapi import schemas
from navixy_panel.mailapi.errors import STATUSES
from navixy_panel.mailapi.routes import MESSAGES

SECURITY: list[dict[str, list[str]]] = [{"SubmissionKey": []}]

_SUBMISSION_EXAMPLE = {
    "dealer": "dealer", "to": [EXAMPLE_RECIPIENT], "subject": "Alarm: vehicle 7 left the zone",
    "text": "Vehicle 7 left the zone at 09:26.", "priority": "alarm",
    "idempotency_key": "alarm-7-2025-03-14T09:26"}
_MESSAGE_EXAMPLE = {
    "id": "1042", "dealer_id": 2, "status": "sent", "reason": None, "priority": "alarm",
    "created": "2025-03-14T09:26:53.589793Z", "finished": "2025-03-14T09:26:53.702114Z",
    "subject": "Alarm: vehicle 7 left the zone", "to": [EXAMPLE_RECIPIENT], "gateway_id": 3,
    "attempts": [{"time": "2025-03-14T09:26:53.700123Z", "gateway_id": 3, "stage": "data",
                  "reply_code": 250, "reply_text": "2.0.0 Ok: queued as 4BQ2xL", "duration_ms": 41,
                  "kind": None}],
    "recipients": [{"address": EXAMPLE_RECIPIENT, "status": "sent", "reply_code": 250}]}

_ERROR = closed({"error": closed({"code": STRING, "message": STRING, "field": STRING},
                                 required=["code", "message"])})
_MEANINGS = {400: ("invalid", "Bad input; `field` names it.", "to.0"),
             401: ("unauthorized", "No key, or not a valid one.", None),
             403: ("forbidden", "A dealer outside the key's subtree (whether or not it "
                                "exists).", None),
             404: ("not_found", "No such message the key may read.", None),
             413: ("too_large", "Over the size limit (decoded).", None),
             429: ("quota_exceeded", "The dealer's queue is full (`quota_exceeded`), or "
                                     "the key's rate (`rate_limited`).", None),
             500: ("internal", "Unexpected error.", None),
             503: ("unavailable", "The database cannot take it now: retry later.", None)}


def _error(status: int) -> dict[str, Any]:
    code, meaning, field = _MEANINGS[status]
    message = next((text for kind, (s, c, text) in STATUSES.items() if s == status and text),
                   meaning)
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"description": meaning,
            "content": {JSON: media(ref("MailError"), {"error": body})}}


def add_to(doc: Builder) -> None:
    doc.spec.components.security_scheme("SubmissionKey", {
        "type": "http", "scheme": "bearer",
        "description": "A dealer's submission key (`navixy-panel key create`, or the "
                       "Navixy action `gateways/email/keys/create`)."})
    doc.spec.components.schema("MailError", _ERROR)
    doc.spec.components.schema("MailAccepted", closed({
        "id": STRING, "status": {"enum": ["queued", "sending", "deferred", "sent",
                                          "partly_sent", "failed", "expired"]}}))
    attempt = closed({"time": STRING, "gateway_id": {"type": ["integer", "null"]},
                      "stage": STRING, "reply_code": {"type": ["integer", "null"]},
                      "reply_text": NULL_STRING, "duration_ms": {"type": "integer"},
                      "kind": NULL_STRING})
    recipient = closed({"address": STRING, "status": {"enum": ["pending", "sent", "failed"]},
                        "reply_code": {"type": ["integer", "null"]}})
    doc.spec.components.schema("MailMessage", closed({
        "id": STRING, "dealer_id": {"type": "integer"}, "status": STRING,
        "reason": {"enum": ["no_gateway", "no_sender", "rejected", "expired",
                            "dealer_blocked", None]},
        "priority": {"enum": ["alarm", "normal", "bulk"]}, "created": STRING,
        "finished": NULL_STRING, "subject": STRING, "to": {"type": "array", "items": STRING},
        "gateway_id": {"type": ["integer", "null"]},
        "attempts": {"type": "array", "items": attempt},
        "recipients": {"type": "array", "items": recipient}}))
    body = doc.inline(schemas.SubmissionSchema)
    doc.spec.path(path=MESSAGES, operations={"post": {
        "tags": ["mail"], "operationId": "mail_submit_message", "security": SECURITY,
        "summary": "Queue a message for a dealer's customers; answered after the commit.",
        "requestBody": {"required": True, "content": {JSON: media(body, _SUBMISSION_EXAMPLE)}},
        "responses": {"202": {"description": "Queued (or, for a repeated idempotency key, "
                                             "the first message's id and status).",
                              "content": {JSON: media(ref("MailAccepted"),
                                                      {"id": "1042", "status": "queued"})}},
                      **{str(s): _error(s) for s in (400, 401, 403, 413, 429, 500, 503)}}}})
    doc.spec.path(path=MESSAGES + "/{id}", operations={"get": {
        "tags": ["mail"], "operationId": "mail_read_message", "security": SECURITY,
        "summary": "A message of the key's dealer or its sub-dealers, with its attempts.",
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "string", "maxLength": 20}, "example": "1042"}],
        "responses": {"200": {"description": "The message.",
                              "content": {JSON: media(ref("MailMessage"), _MESSAGE_EXAMPLE)}},
                      **{str(s): _error(s) for s in (401, 404, 500, 503)}}}})

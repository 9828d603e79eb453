"""The Webitel face's part of the OpenAPI document: `/login`, `/logout` and
`/api/v2/email/settings`.

The settings document comes from the schemas that load it and write it back
(`mapping.SettingsSchema`, `mapping.SettingsAnswerSchema`); the login parameters from
`auth.LoginParams`. Written here is what has no schema in the code: the small answers
(`status`/`info`), which statuses each operation can answer and what they mean. The
examples are in `openapi_examples.py`.
"""

from __future__ import annotations

from typing import Any

from navixy_panel.http.openapi_parts import (
    EXAMPLE_DOMAIN,
    EXAMPLE_RECIPIENT,
    FORM,
    JSON,
    NULL_STRING,
    PERMISSIONS,
    STRING,
    Builder,
    closed,
    media,
    ref,
)
from navixy_panel.webitel import mapping
from navixy_panel.webitel.auth import LoginParams
from navixy_panel.webitel.email_settings import PATH
from navixy_panel.webitel.openapi_examples import ERROR_EXAMPLES, EXAMPLES

SECURITY: list[dict[str, list[str]]] = [{"WebitelKey": [], "WebitelToken": []}]

# Each operation's own statuses, plus these for all (bad body, oversized body,
# unexpected failure, database unavailable).
ANY_OPERATION = (400, 413, 500, 503)
MEANINGS = {
    400: "Bad request: malformed body, missing domain or invalid fields (named in `info`).",
    401: "`Invalid token`, `Token Expired`, `Invalid User` or `Invalid credentials`.",
    403: "`Permission denied!` (domain out of reach or permission missing), or the "
         "dealer is blocked.",
    404: "No email settings for the domain.",
    409: "Refused: sub-dealers are bound to the gateway (Navixy code 261).",
    413: "Request too large.",
    429: "Too many requests.",
    500: "Internal server error.",
    502: "The SMTP server refused or could not be reached; its reply code in `code`.",
    503: "Database unavailable.",
}

_ANSWERS: dict[str, dict[str, Any]] = {
    "WebitelError": closed({
        "status": {"const": "error"}, "info": STRING,
        "code": {"description": "With 502: the SMTP server's reply code, when it replied."},
    }, required=["status", "info"]),
    "WebitelLogin": closed({
        "key": STRING, "token": {"type": "string", "description": "HS256 JWT; `exp` in ms."},
        "expires": {"type": "integer", "description": "The token's `exp`, in milliseconds."},
        "domain": NULL_STRING, "acl": PERMISSIONS,
    }),
    "WebitelStatus": closed({"status": {"const": "OK"}, "info": STRING}),
    "WebitelRemoved": closed({"status": {"const": "OK"},
                              "Info": {"type": "string", "pattern": "^Removed [01] record\\.$"}}),
    "WebitelSent": closed({"status": {"const": "OK"},
                           "info": closed({"messageId": STRING, "response": STRING})}),
    # A check's report; for settings leased from the parent, only `passed` and each
    # stage's result and code.
    "WebitelCheck": closed({"status": {"const": "OK"}, "info": closed({
        "passed": {"type": "boolean"},
        "stages": {"type": "array", "items": closed({
            "stage": {"enum": ["connect", "tls", "ehlo", "token", "auth", "mail_from", "rcpt_to",
                               "rset"]},
            "result": {"enum": ["pass", "fail"]},
            "ms": {"type": "integer"},
            "code": {"type": ["integer", "null"]},
            "error": NULL_STRING}, required=["stage", "result", "code"])},
        "extensions": {"type": "array", "items": STRING},
        "auth_mechanisms": {"type": "array", "items": STRING},
        "certificate": {"oneOf": [{"type": "null"}, closed({
            "subject": STRING, "issuer": STRING,
            "expires": {"type": "string", "format": "date-time"}})]},
    }, required=["passed", "stages"])}),
}


def add_to(doc: Builder) -> None:
    components = doc.spec.components
    components.security_scheme("WebitelKey", {
        "type": "apiKey", "in": "header", "name": "X-Key",
        "description": "The `key` from `POST /login` (or the `x_key` parameter).",
    })
    components.security_scheme("WebitelToken", {
        "type": "apiKey", "in": "header", "name": "X-Access-Token",
        "description": "The `token` from `POST /login` (or the `access_token` parameter).",
    })
    for name, schema in _ANSWERS.items():
        components.schema(name, schema)
    # Webitel's schema names are generic (Auth, Options): kept apart from Navixy's.
    doc.name_schemas({
        "WebitelTls": mapping.TlsSchema, "WebitelAuth": mapping.AuthSchema,
        "WebitelOptions": mapping.OptionsSchema, "WebitelSettings": mapping.SettingsSchema,
        "WebitelTlsOut": mapping.TlsAnswerSchema, "WebitelAuthOut": mapping.AuthAnswerSchema,
        "WebitelOptionsOut": mapping.OptionsAnswerSchema,
        "WebitelSettingsOut": mapping.SettingsAnswerSchema,
    })
    _paths(doc)


def _operation(doc: Builder, path: str, method: str, *, operation_id: str, summary: str,
               statuses: tuple[int, ...], success: dict[str, Any], answer: dict[str, Any],
               body: dict[str, Any] | None = None, secured: bool = True, domain: bool = True,
               parameters: list[dict[str, Any]] | None = None,
               errors: dict[int, str] | None = None) -> None:
    """`answer` is the success example; `errors` overrides `ERROR_EXAMPLES`."""
    params = list(parameters or [])
    if domain:
        params.append({"name": "domain", "in": "query", "required": False,
                       "schema": {"type": "string"}, "example": EXAMPLE_DOMAIN,
                       "description": "The domain acted on; the caller's own when absent."})
    responses: dict[str, Any] = {"200": {"description": "Success.",
                                         "content": {JSON: media(success, answer)}}}
    for status in sorted(set(statuses) | set(ANY_OPERATION)):
        error: dict[str, Any] = {"status": "error",
                                 "info": {**ERROR_EXAMPLES, **(errors or {})}[status]}
        if status == 502:
            error["code"] = 535
        responses[str(status)] = {"description": MEANINGS[status],
                                  "content": {JSON: media(ref("WebitelError"), error)}}
    operation: dict[str, Any] = {"tags": ["webitel"], "operationId": operation_id,
                                 "summary": summary, "security": SECURITY if secured else [],
                                 "responses": responses}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    doc.spec.path(path=path, operations={method: operation})


def _paths(doc: Builder) -> None:
    login, login_example = doc.inline(LoginParams), EXAMPLES["login"]
    _operation(doc, "/login", "post", operation_id="webitel_login",
               summary="Log in: a revocable key and a signed token.",
               statuses=(400, 401, 403, 429), success=ref("WebitelLogin"),
               answer=EXAMPLES["login_answer"],
               body={JSON: media(login, login_example), FORM: media(login, login_example)},
               secured=False, domain=False,
               errors={400: "username: Missing data for required field.",
                       401: "Invalid credentials", 403: "Access denied"})
    _operation(doc, "/logout", "post", operation_id="webitel_logout", summary="End the key.",
               statuses=(401,), success=ref("WebitelStatus"),
               answer={"status": "OK", "info": "Successful logout."}, domain=False)
    settings, answer = doc.nested(mapping.SettingsSchema), doc.nested(mapping.SettingsAnswerSchema)
    _operation(doc, PATH, "get", operation_id="webitel_get_email_settings",
               summary="The domain's email settings.", statuses=(401, 403, 404),
               success=answer, answer=EXAMPLES["settings_answer"])
    _operation(doc, PATH, "post", operation_id="webitel_create_email_settings",
               summary="Create (and bind) or replace the settings.",
               statuses=(401, 403, 404, 409), success=answer,
               answer=EXAMPLES["settings_answer"],
               body={JSON: media(settings, EXAMPLES["settings"])})
    _operation(doc, PATH, "put", operation_id="webitel_replace_email_settings",
               summary="Replace existing settings.", statuses=(401, 403, 404, 409),
               success=answer, answer=EXAMPLES["replaced_answer"],
               body={JSON: media(settings, EXAMPLES["replacement"])})
    _operation(doc, PATH, "delete", operation_id="webitel_delete_email_settings",
               summary="Delete the settings' gateway.", statuses=(401, 403, 404, 409),
               success=ref("WebitelRemoved"), answer={"status": "OK", "Info": "Removed 1 record."})
    to = {"type": "string", "format": "email"}
    test_statuses = (401, 403, 404, 429, 502)
    sent = EXAMPLES["sent_answer"]
    _operation(doc, PATH + "/test/{to}", "post", operation_id="webitel_send_test_email_to",
               summary="Send a test message to the path's address.", statuses=test_statuses,
               success=ref("WebitelSent"), answer=sent,
               parameters=[{"name": "to", "in": "path", "required": True, "schema": to,
                            "example": EXAMPLE_RECIPIENT}])
    to_body = {"type": "object", "required": ["to"], "properties": {"to": to}}
    to_example = {"to": EXAMPLE_RECIPIENT}
    _operation(doc, PATH + "/test", "post", operation_id="webitel_send_test_email",
               summary="Send a test message to the body's address.", statuses=test_statuses,
               success=ref("WebitelSent"), answer=sent,
               body={JSON: media(to_body, to_example), FORM: media(to_body, to_example)})
    check_body = {"type": "object", "properties": {"to": to}}
    _operation(doc, PATH + "/check", "post", operation_id="webitel_check_email_settings",
               summary="Check the settings without sending: connect, TLS, EHLO, AUTH, "
                       "MAIL FROM, RCPT TO (`to`, else the sender), then RSET and QUIT.",
               statuses=(401, 403, 404, 429), success=ref("WebitelCheck"),
               answer=EXAMPLES["check_answer"],
               body={JSON: media(check_body, to_example), FORM: media(check_body, to_example)})

"""Webitel's email settings document ↔ a gateway's Navixy params.

Webitel stored nodemailer options: `secure` true is implicit TLS on `port`,
false is a plain connection upgraded with STARTTLS when offered;
`tls.rejectUnauthorized` false skips certificate checks; `auth` null means no
login. Both faces read and write the same gateway, so what one writes the
other reads back.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from navixy_panel.domain.addresses import Email
from navixy_panel.domain.fields import WholeNumber
from navixy_panel.domain.gateways import GatewayInput, GatewayRecord
from navixy_panel.domain.smtp_params import (
    AUTH,
    CLIENT_ID,
    DEBUG,
    DEFAULT_SCOPE,
    FROM,
    HOST,
    MECHANISMS,
    PASSWORD,
    PORT,
    SCOPE,
    SSL_PORT,
    STARTTLS,
    STARTTLS_REQUIRED,
    TOKEN_URL,
    TRUST_ALL,
    USE_SSL,
    USER,
    XOAUTH2,
    SmtpParamsSchema,
    uses_oauth,
)

DEFAULT_LABEL = "Email settings"


class _Lenient(Schema):
    # Webitel clients PUT back what they GET (`_id`, `domain`) and nodemailer
    # accepts many options; keys we do not map are ignored, not refused.
    class Meta:
        unknown = EXCLUDE


class TlsSchema(_Lenient):
    rejectUnauthorized = fields.Boolean(load_default=True)  # noqa: N815 - Webitel's name


class AuthSchema(_Lenient):
    """nodemailer's `auth`: a login (`user`, `pass`), or `type: "OAuth2"` with a client's
    credentials (`clientId`, `clientSecret`, `accessUrl`, `scope`)."""

    type = fields.String(load_default="login", validate=validate.OneOf(["login", "OAuth2"]))
    user = fields.String(required=True, validate=validate.Length(min=1, max=320))
    # null keeps the stored password (while the destination is unchanged)
    pass_ = fields.String(data_key="pass", load_default=None, allow_none=True,
                          validate=validate.Length(max=1024))
    clientId = fields.String(load_default=None, allow_none=True)  # noqa: N815 - nodemailer's
    # null keeps the stored secret (while the destination, token URL and client included,
    # is unchanged)
    clientSecret = fields.String(load_default=None, allow_none=True,  # noqa: N815
                                 validate=validate.Length(max=1024))
    accessUrl = fields.String(load_default=None, allow_none=True)  # noqa: N815
    scope = fields.String(load_default=None, allow_none=True)


class OptionsSchema(_Lenient):
    host = fields.String(required=True)
    port = WholeNumber(required=True, validate=validate.Range(1, 65535))
    secure = fields.Boolean(load_default=False)
    debug = fields.Boolean(load_default=False)
    tls = fields.Nested(TlsSchema, load_default=None, allow_none=True)
    auth = fields.Nested(AuthSchema, load_default=None, allow_none=True)


class SettingsSchema(_Lenient):
    # "smtp", or the provider a gateway already has (an operator's relay read back).
    provider = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9_]{1,50}$", error="Must be a provider name."))
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=100))
    from_ = Email(data_key="from", load_default=None, allow_none=True)
    options = fields.Nested(OptionsSchema, required=True)


def to_gateway(document: dict[str, Any], current: GatewayRecord | None) -> GatewayInput:
    """A loaded SettingsSchema document as a gateway, on top of the current one: what
    Webitel has no word for (timeouts, `leasable`) is kept."""
    allowed = sorted({"smtp", current.provider if current else "smtp"})
    if document["provider"] not in allowed:
        raise ValidationError({"provider": [f"Must be one of: {', '.join(allowed)}."]})
    options = document["options"]
    params = dict(current.params) if current else {}
    params.pop(PASSWORD, None)
    secure = options["secure"]
    params.update({HOST: options["host"], USE_SSL: secure, DEBUG: options["debug"],
                   FROM: document["from_"]})
    if secure:
        params[SSL_PORT] = options["port"]
    else:
        params[PORT] = options["port"]
        if current is None or current.params.get(USE_SSL):
            # Newly plain: nodemailer's meaning, STARTTLS when the server offers it.
            params[STARTTLS], params[STARTTLS_REQUIRED] = True, False
    tls = options["tls"] or {"rejectUnauthorized": True}
    params[TRUST_ALL] = not tls["rejectUnauthorized"]
    auth = options["auth"]
    params[AUTH] = auth is not None
    params[USER] = auth["user"] if auth else None
    if auth is not None and auth["type"] == "OAuth2":
        params.update({MECHANISMS: XOAUTH2, TOKEN_URL: auth["accessUrl"],
                       CLIENT_ID: auth["clientId"], SCOPE: auth["scope"],
                       PASSWORD: auth["clientSecret"]})
    else:
        if params.get(MECHANISMS) == XOAUTH2:  # back to a login: the OAuth keys go
            params.update({MECHANISMS: None, TOKEN_URL: None, CLIENT_ID: None, SCOPE: None})
        params[PASSWORD] = auth["pass_"] if auth else None
    # Through the same validation as the Navixy face (host syntax, ranges).
    loaded = SmtpParamsSchema().load(params)
    return GatewayInput(label=document["description"] or DEFAULT_LABEL,
                        provider=document["provider"],
                        leasable=current.leasable if current else False, params=loaded)


class TlsAnswerSchema(Schema):
    rejectUnauthorized = fields.Boolean(required=True)  # noqa: N815 - Webitel's name


class AuthAnswerSchema(Schema):
    """A login's `{user, pass}`; an OAuth2 gateway's adds nodemailer's OAuth2 fields."""

    user = fields.String(required=True, allow_none=True)
    pass_ = fields.Constant(None, data_key="pass", required=True,
                            metadata={"enum": [None], "description": "Never returned."})
    type = fields.String(metadata={"enum": ["OAuth2"]})
    clientId = fields.String()  # noqa: N815 - nodemailer's names
    # Raw, not Constant: present (null) only in an OAuth2 gateway's answer.
    clientSecret = fields.Raw(allow_none=True, metadata={  # noqa: N815
        "enum": [None], "description": "Never returned."})
    accessUrl = fields.String()  # noqa: N815
    scope = fields.String()


class OptionsAnswerSchema(Schema):
    host = fields.String(required=True)
    port = fields.Integer(required=True)
    secure = fields.Boolean(required=True)
    debug = fields.Boolean(required=True)
    tls = fields.Nested(TlsAnswerSchema, required=True)
    auth = fields.Nested(AuthAnswerSchema, required=True, allow_none=True)


class SettingsAnswerSchema(Schema):
    """The settings as Webitel's clients read them back (what GET, POST and PUT answer);
    the OpenAPI document describes the answer with this same schema."""

    id = fields.String(data_key="_id", required=True, metadata={"description": "The gateway id."})
    provider = fields.String(required=True)
    description = fields.String(required=True)
    from_ = fields.String(data_key="from", required=True, allow_none=True)
    options = fields.Nested(OptionsAnswerSchema, required=True)
    domain = fields.String(required=True)


_ANSWER = SettingsAnswerSchema()


def to_document(gateway_id: int, label: str, provider: str, params: dict[str, Any],
                domain: str) -> dict[str, Any]:
    secure = bool(params[USE_SSL])
    return _ANSWER.dump({
        "id": gateway_id,
        "provider": provider,
        "description": label,
        "from_": params.get(FROM),
        "options": {
            "host": params[HOST],
            "port": params[SSL_PORT] if secure else params[PORT],
            "secure": secure,
            "debug": params[DEBUG],
            "tls": {"rejectUnauthorized": not params[TRUST_ALL]},
            "auth": _auth_answer(params) if params[AUTH] else None,
        },
        "domain": domain,
    })


def _auth_answer(params: dict[str, Any]) -> dict[str, Any]:
    if not uses_oauth(params):
        return {"user": params[USER]}
    return {"user": params[USER], "type": "OAuth2", "clientId": params.get(CLIENT_ID),
            "clientSecret": None, "accessUrl": params.get(TOKEN_URL),
            "scope": params.get(SCOPE) or DEFAULT_SCOPE}

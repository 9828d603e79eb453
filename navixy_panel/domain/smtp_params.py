"""SMTP gateway parameters in Navixy's JavaMail keys: defaults, validation, output.

Stored params always hold every key with its default filled in, except the
password, which lives encrypted in its own column and reads back as null.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, post_load, validate

from navixy_panel.domain.addresses import Mailbox
from navixy_panel.domain.fields import WholeNumber

PASSWORD = "mail.smtp.password"
HOST, PORT, SSL_PORT = "mail.smtp.host", "mail.smtp.port", "mail.smtp.ssl.port"
USE_SSL, STARTTLS, STARTTLS_REQUIRED = (
    "mail.smtp.use_ssl", "mail.smtp.starttls.enable", "mail.smtp.starttls.required")
TRUST_ALL, AUTH, USER = "mail.smtp.ssl.trust_all_hosts", "mail.smtp.auth", "mail.smtp.user"
TIMEOUT, CONNECT_TIMEOUT = "mail.smtp.timeout", "mail.smtp.connectiontimeout"
DEBUG, PROTOCOL, FROM = "mail.debug", "mail.transport.protocol", "default_from_address"
MECHANISMS = "mail.smtp.auth.mechanisms"
TOKEN_URL = "mail.smtp.auth.xoauth2.token_url"
CLIENT_ID = "mail.smtp.auth.xoauth2.client_id"
SCOPE = "mail.smtp.auth.xoauth2.scope"
XOAUTH2 = "XOAUTH2"
DEFAULT_SCOPE = "https://outlook.office365.com/.default"

# The password mechanisms, in the order the client prefers them (CRAM-MD5 never
# sends the password itself).
PASSWORD_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")

# Keys Navixy's admin panel does not know: it sends a gateway back without them, so
# an update that omits one keeps its stored value (null clears it); they are stored
# and shown only when set, so the panel never meets a key it does not know.
EXTENSION_KEYS = (MECHANISMS, TOKEN_URL, CLIENT_ID, SCOPE)

# Output order follows Navixy's documented example.
KEY_ORDER = (FROM, USER, PASSWORD, HOST, PORT, SSL_PORT, TRUST_ALL, AUTH, DEBUG, STARTTLS,
             STARTTLS_REQUIRED, USE_SSL, TIMEOUT, CONNECT_TIMEOUT, PROTOCOL)

DEFAULTS: dict[str, Any] = {
    FROM: None, USER: None, PORT: 25, SSL_PORT: 465, TRUST_ALL: False, AUTH: False,
    DEBUG: False, STARTTLS: False, STARTTLS_REQUIRED: False, USE_SSL: False,
    TIMEOUT: 60000, CONNECT_TIMEOUT: 60000, PROTOCOL: "smtp",
}

# What a stored password was entered for: if any of these change, the password
# must be entered again (a stored secret never goes to a server it was not meant for).
# With OAuth the secret is the client's, so where it goes includes the token URL and
# the client it belongs to.
DESTINATION_KEYS = (HOST, PORT, SSL_PORT, USE_SSL, STARTTLS, STARTTLS_REQUIRED, TRUST_ALL, USER,
                    TOKEN_URL, CLIENT_ID)

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


def _validate_host(value: str) -> None:
    if _HOSTNAME.fullmatch(value):
        return
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise ValidationError("Must be a hostname or an IP address.") from None


def _validate_mechanisms(value: str) -> None:
    names = [name.upper() for name in value.split()]
    if not names or any(name not in (*PASSWORD_MECHANISMS, XOAUTH2) for name in names):
        raise ValidationError("Must be a space-separated list of: "
                              f"{', '.join((*PASSWORD_MECHANISMS, XOAUTH2))}.")
    if len(set(names)) != len(names):
        raise ValidationError("Must not name a mechanism twice.")
    if XOAUTH2 in names and len(names) > 1:
        # The secret is either a password or an OAuth client secret, never both.
        raise ValidationError("XOAUTH2 cannot be combined with password mechanisms.")


def _validate_token_url(value: str) -> None:
    parsed = urlsplit(value)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ValidationError("Must be an https URL.")
    if parsed.username is not None or parsed.password is not None:
        raise ValidationError("Must not carry credentials.")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValidationError("Must be an https URL.") from None
    _validate_host(parsed.hostname)


def uses_oauth(params: dict[str, Any]) -> bool:
    return bool(params.get(AUTH)) and params.get(MECHANISMS) == XOAUTH2


class _Mechanisms(fields.String):
    """A space-separated subset of the mechanisms, stored upper-case, one space apart."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 100:  # bounded before it is split
            raise ValidationError("Longer than maximum length 100.")
        _validate_mechanisms(text)
        return " ".join(text.upper().split())


def mechanisms(params: dict[str, Any]) -> tuple[str, ...]:
    """What the client may try, in its order of preference (null: all it knows)."""
    chosen = params.get(MECHANISMS)
    if not chosen:
        return PASSWORD_MECHANISMS
    named = set(str(chosen).split())
    return tuple(name for name in (*PASSWORD_MECHANISMS, XOAUTH2) if name in named)


def _port(**kwargs: Any) -> fields.Integer:
    return WholeNumber(validate=validate.Range(1, 65535), **kwargs)


def _timeout() -> fields.Integer:
    return WholeNumber(validate=validate.Range(1, 600000), load_default=60000)


_FIELDS: dict[str, fields.Field] = {
        # A bare address: Navixy documents it as one, and its admin panel shows it to
        # sub-dealers between angle brackets (a display name belongs in email_from).
        FROM: Mailbox(allow_none=True, load_default=None),
        HOST: fields.String(required=True, validate=_validate_host),
        PORT: _port(load_default=25),
        SSL_PORT: _port(load_default=465),
        USE_SSL: fields.Boolean(load_default=False),
        STARTTLS: fields.Boolean(load_default=False),
        STARTTLS_REQUIRED: fields.Boolean(load_default=False),
        TRUST_ALL: fields.Boolean(load_default=False),
        AUTH: fields.Boolean(load_default=False),
        USER: fields.String(allow_none=True, load_default=None,
                            validate=validate.Length(max=320)),
        PASSWORD: fields.String(allow_none=True, load_default=None,
                                validate=validate.Length(max=1024)),
        TIMEOUT: _timeout(),
        CONNECT_TIMEOUT: _timeout(),
        DEBUG: fields.Boolean(load_default=False),
        PROTOCOL: fields.String(load_default="smtp", validate=validate.OneOf(["smtp"])),
        # No load_default: an omitted extension key is absent from the loaded params,
        # which is how an update tells "keep" from null ("clear").
        MECHANISMS: _Mechanisms(allow_none=True),
        TOKEN_URL: fields.String(allow_none=True, validate=[validate.Length(max=2048),
                                                            _validate_token_url]),
        CLIENT_ID: fields.String(allow_none=True, validate=validate.Length(min=1, max=256)),
        SCOPE: fields.String(allow_none=True, validate=validate.Length(min=1, max=1024)),
}


class SmtpParamsSchema(Schema.from_dict(  # type: ignore[misc]
    # Dotted attribute names would be read by marshmallow as nested paths, so
    # attributes use underscores and the JavaMail key is the data_key.
    {key.replace(".", "_"): field for key, field in _FIELDS.items()}
)):
    """Unknown keys are refused (marshmallow's default, RAISE); errors name the JavaMail key."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.data_key = _KEY_BY_ATTRIBUTE[field_name]

    @post_load
    def javamail_keys(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {_KEY_BY_ATTRIBUTE[attr]: value for attr, value in data.items()}


_KEY_BY_ATTRIBUTE = {key.replace(".", "_"): key for key in _FIELDS}


def public_params(stored: dict[str, Any]) -> dict[str, Any]:
    """Every key, in Navixy's order, with the password always null; then the
    extension keys that are set."""
    shown = {key: (None if key == PASSWORD else stored.get(key, DEFAULTS.get(key)))
             for key in KEY_ORDER}
    shown.update((key, stored[key]) for key in EXTENSION_KEYS if stored.get(key) is not None)
    return shown


def kept_extensions(given: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """`given` with the extension keys it omits taken from `stored`; null ones dropped."""
    merged = {**{key: stored.get(key) for key in EXTENSION_KEYS}, **given}
    return {key: value for key, value in merged.items()
            if key not in EXTENSION_KEYS or value is not None}


def destination(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(params.get(key, DEFAULTS.get(key)) for key in DESTINATION_KEYS)


def oauth_problems(params: dict[str, Any]) -> list[tuple[str, str]]:
    """What an XOAUTH2 gateway lacks, once omitted keys are filled from the stored ones."""
    if not uses_oauth(params):
        return []
    return [(key, "Required with mail.smtp.auth.mechanisms XOAUTH2.")
            for key in (TOKEN_URL, CLIENT_ID, USER) if not params.get(key)]


# Hosts whose password logins are going away: Microsoft 365 turns basic authentication
# for SMTP off; Google takes app passwords only. By the host name's last labels.
_CLOUD_MAIL = (("Microsoft 365", ("office365.com", "outlook.com")),
               ("Google", ("gmail.com", "googlemail.com", "google.com")))


def password_cloud_service(params: dict[str, Any]) -> str | None:
    """"Microsoft 365" or "Google" when the gateway logs in with a password to one of
    their hosts, else None."""
    if not params.get(AUTH) or uses_oauth(params):
        return None
    host = str(params.get(HOST) or "").strip().rstrip(".").lower()
    for service, domains in _CLOUD_MAIL:
        if any(host == domain or host.endswith("." + domain) for domain in domains):
            return service
    return None

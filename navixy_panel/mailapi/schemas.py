"""The submission body, checked field by field before anything is stored."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from navixy_panel.domain import delivery as d
from navixy_panel.domain.addresses import Mailbox

SUBJECT_MAX = 998  # one header line (RFC 5322)
ATTACHMENTS_MAX = 100
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/"
                           r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_NO_LINE_BREAK = validate.Regexp(r"^[^\r\n\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
                                 error="Must be one line without control characters.")


class DealerRef(fields.Field):
    """A login as a JSON string, or an id as a JSON number (not a boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise ValidationError("Must be a login (string) or an id (number).")
        if isinstance(value, int):
            if not 1 <= value < 2**63:
                raise ValidationError("Not a dealer id.")
            return value
        if isinstance(value, str) and 0 < len(value) <= 255:
            return value
        raise ValidationError("Must be a login (string) or an id (number).")


class AttachmentSchema(Schema):
    class Meta:
        unknown = RAISE

    filename = fields.String(required=True, validate=[validate.Length(1, 255), _NO_LINE_BREAK])
    content_type = fields.String(required=True, validate=validate.Regexp(
        _CONTENT_TYPE, error="Must be a media type such as application/pdf."))
    content_base64 = fields.String(required=True)

    @validates_schema
    def _decodes(self, data: dict[str, Any], **kwargs: Any) -> None:
        try:
            base64.b64decode(data["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Must be base64.", "content_base64") from None


def _recipients(required: bool) -> fields.List:
    return fields.List(Mailbox(), required=required,
                       validate=validate.Length(1 if required else 0, d.MAX_RECIPIENTS))


class SubmissionSchema(Schema):
    class Meta:
        unknown = RAISE

    dealer = DealerRef(load_default=None, metadata={
        "description": "login (string) or id (number); default: the key's dealer",
        "oneOf": [{"type": "string"}, {"type": "integer"}]})
    to = _recipients(True)
    cc = _recipients(False)
    subject = fields.String(load_default="", validate=[validate.Length(max=SUBJECT_MAX),
                                                       _NO_LINE_BREAK])
    text = fields.String(load_default=None)
    html = fields.String(load_default=None)
    attachments = fields.List(fields.Nested(AttachmentSchema), load_default=list,
                              validate=validate.Length(max=ATTACHMENTS_MAX))
    reply_to = Mailbox(display_name=True, load_default=None)
    from_ = Mailbox(display_name=True, load_default=None, data_key="from")
    priority = fields.String(load_default=d.DEFAULT_PRIORITY,
                             validate=validate.OneOf(d.PRIORITIES))
    idempotency_key = fields.String(load_default=None, validate=[
        validate.Length(1, d.MAX_IDEMPOTENCY_KEY), _NO_LINE_BREAK])

    @validates_schema
    def _has_body(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("text") is None and data.get("html") is None:
            raise ValidationError("Give text, html or both.", "text")


SUBMISSION = SubmissionSchema()


def to_submission(loaded: dict[str, Any]) -> d.Submission:
    return d.Submission(
        to=tuple(loaded["to"]), cc=tuple(loaded.get("cc") or ()), subject=loaded["subject"],
        text=loaded["text"], html=loaded["html"],
        attachments=tuple(d.Attachment(item["filename"], item["content_type"],
                                       item["content_base64"], _decoded_size(item))
                          for item in loaded["attachments"]),
        reply_to=loaded["reply_to"], sender=loaded["from_"], priority=loaded["priority"],
        idempotency_key=loaded["idempotency_key"], dealer=loaded["dealer"])


class MessageAnswerSchema(Schema):
    """What `GET /mail/v1/messages/{id}` answers (for the OpenAPI document)."""

    id = fields.String()
    dealer_id = fields.Integer()
    status = fields.String(metadata={"enum": list(d.STATUSES)})
    reason = fields.String(allow_none=True, metadata={"enum": [*d.REASONS, None]})
    priority = fields.String(metadata={"enum": list(d.PRIORITIES)})
    created = fields.String()
    finished = fields.String(allow_none=True)
    subject = fields.String()
    to = fields.List(fields.String())
    gateway_id = fields.Integer(allow_none=True)
    attempts = fields.List(fields.Dict())
    recipients = fields.List(fields.Dict())


def _decoded_size(item: dict[str, Any]) -> int:
    text = item["content_base64"]
    return len(text) * 3 // 4 - (len(text) - len(text.rstrip("=")))

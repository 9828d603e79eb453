"""Delivery decisions, with no I/O: priorities, statuses, what a reply means, when
to try again, and the shape of a submitted message.

Every face that submits (HTTP `mailapi/`, SMTP `submission/`) builds a
`Submission`; the delivery workers (`delivery/`) classify each SMTP reply with
`outcome()` and schedule the next attempt with `retry_delay()`. Keeping these
here means the rule of SPEC section 7 ("a 4xx defers, a 5xx fails") is written
once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

# Sorted the way delivery takes them within a dealer (stored as the index).
PRIORITIES = ("alarm", "normal", "bulk")
DEFAULT_PRIORITY = "normal"

QUEUED, SENDING, DEFERRED = "queued", "sending", "deferred"
SENT, PARTLY_SENT, FAILED, EXPIRED = "sent", "partly_sent", "failed", "expired"
STATUSES = (QUEUED, SENDING, DEFERRED, SENT, PARTLY_SENT, FAILED, EXPIRED)
UNFINISHED = (QUEUED, SENDING, DEFERRED)

# Why a message failed or expired (`reason`); None while it is not finished or when sent.
NO_GATEWAY, NO_SENDER, REJECTED = "no_gateway", "no_sender", "rejected"
DEALER_BLOCKED = "dealer_blocked"
REASONS = (NO_GATEWAY, NO_SENDER, REJECTED, EXPIRED, DEALER_BLOCKED)

# Per recipient.
PENDING = "pending"

MAX_RECIPIENTS = 50  # per list (`to`, `cc`)
MAX_IDEMPOTENCY_KEY = 100
IDEMPOTENCY_HOURS = 24
RETRY_CAP_SECONDS = 3600.0


def priority_rank(name: str) -> int:
    return PRIORITIES.index(name)


def priority_name(rank: int) -> str:
    return PRIORITIES[rank]


@dataclass(frozen=True, slots=True)
class Attachment:
    """Kept in base64 as submitted: it is decoded only when the message is built."""

    filename: str
    content_type: str
    content_base64: str
    size: int  # decoded bytes


@dataclass(frozen=True, slots=True)
class Submission:
    """A message as a face hands it over, already parsed and bounded by the face.

    `dealer`: a login (str) or an id (int); None means the key's own dealer.
    `raw`: the message as received over SMTP (headers and body); delivery
    replaces its From and Message-ID and adds the footer. HTTP submissions give
    the parts instead (`text`, `html`, `attachments`) and no `raw`.
    `sender`: a From (or SMTP `MAIL FROM`) the submitter gave; it becomes
    Reply-To unless `reply_to` is given, because the From is always the
    dealer's identity."""

    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    sender: str | None = None
    priority: str = DEFAULT_PRIORITY
    idempotency_key: str | None = None
    dealer: str | int | None = None
    raw: bytes | None = None

    def size(self) -> int:
        """Decoded bytes, what the size limit counts."""
        if self.raw is not None:
            return len(self.raw)
        return (len((self.text or "").encode()) + len((self.html or "").encode())
                + sum(item.size for item in self.attachments)
                + len(self.subject.encode()))


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Who a submission key speaks for: the key's dealer (and that dealer's subtree)."""

    key_id: int
    dealer_id: int


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    status: str
    duplicate: bool = False  # the idempotency key named an earlier message


@dataclass(frozen=True, slots=True)
class Attempt:
    time: str  # ISO 8601
    gateway_id: int | None
    stage: str  # connect, tls, ehlo, auth, mail_from, rcpt_to, data, route
    reply_code: int | None
    reply_text: str | None
    duration_ms: int
    kind: str | None = None  # a SendFailure name when the attempt failed


@dataclass(frozen=True, slots=True)
class RecipientState:
    address: str
    status: str  # pending, sent, failed
    reply_code: int | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message as a reader may see it (the disclosure rule already applied)."""

    id: str
    dealer_id: int
    status: str
    reason: str | None
    priority: str
    created: str
    finished: str | None
    subject: str
    to: list[str]
    gateway_id: int | None
    next_attempt: str | None
    attempts: list[Attempt] = field(default_factory=list)
    recipients: list[RecipientState] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GatewayHealthView:
    id: int
    state: str  # ok, failing, idle
    last_success: str | None
    last_failure: str | None
    last_failure_kind: str | None
    queued: int


def outcome(code: int | None) -> str:
    """What an SMTP reply means for the recipient or message it answered:
    2xx `sent`, 5xx `failed`, anything else (4xx, no reply at all) `deferred`."""
    if code is not None and 200 <= code < 300:
        return SENT
    if code is not None and 500 <= code < 600:
        return FAILED
    return DEFERRED


def retry_delay(attempts: int, base: float, *, cap: float = RETRY_CAP_SECONDS,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds before attempt `attempts + 1`: `base` doubling per attempt, at most
    `cap`, with ±20 % jitter so messages deferred together do not return together."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return min(cap, delay * (0.8 + 0.4 * rand()))


def final_status(recipients: list[RecipientState]) -> str | None:
    """The message's status once no recipient is pending; None while one is."""
    states = {recipient.status for recipient in recipients}
    if PENDING in states:
        return None
    if states == {SENT}:
        return SENT
    if SENT in states:
        return PARTLY_SENT
    return FAILED


class KeyRates:
    """Submissions per key and second, per instance: a token bucket per key holding a
    second's worth. Kept in memory, not in PostgreSQL, because one row per key updated by
    every submission would make all of a key's submissions wait for each other's
    commits (the platform submits everything with one key); with N instances a key
    gets up to N times the rate, which the README says."""

    def __init__(self, per_second: int, clock: Callable[[], float]) -> None:
        self.per_second, self.clock = per_second, clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, key_id: int) -> bool:
        now = self.clock()
        tokens, since = self._buckets.get(key_id, (float(self.per_second), now))
        tokens = min(float(self.per_second), tokens + (now - since) * self.per_second)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            return False
        self._buckets[key_id] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # keys come and go; forget the idle ones
            self._buckets.clear()
        return True

"""Frozen value types shared by the layers: phone numbers, jobs and their states.

A job is one recipient of one accepted mail. Its life (see `bridge.adapters.store.base` for the store's
side, `bridge.pipeline` for the decisions):

    queued ──lease──▶ leased ──delivered──▶ delivered
      ▲                  │ ──temporary failure──▶ queued (next_attempt_at later)
      │                  │ ──permanent failure──▶ failed   (DSN)
      │                  │ ──past expiry──────────▶ expired  (DSN 4.4.7)
      │                  │ ──the MMSC took it, the phone has not confirmed──▶ notified
      └──lease expired───┘
    notified ──due (re-notify, or the phone's answer arrived)──lease──▶ leased
    notified ──the phone fetched the content──▶ retrieved ──lease──▶ leased ──▶ delivered
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True, kw_only=True)
class MSISDN:
    """A phone number in E.164 form, `+` and digits."""

    e164: str

    def __post_init__(self) -> None:
        digits = self.e164[1:]
        if not (self.e164.startswith("+") and digits.isdigit() and 6 <= len(digits) <= 15):
            raise ValueError(f"not an E.164 number: {self.e164!r}")

    @property
    def masked(self) -> str:
        """For logs: all but the last four digits hidden."""
        return "+" + "*" * (len(self.e164) - 5) + self.e164[-4:]

    def __str__(self) -> str:
        return self.e164


class JobState(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    #: the phone was told (builtin MMSC) or the operator's MMSC accepted it; waiting for the phone
    NOTIFIED = "notified"
    #: the phone fetched the content; waiting for its acknowledgement (or the time allowed for one)
    RETRIEVED = "retrieved"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in (JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED)


class Handset(StrEnum):
    """The last thing the phone told the MMSC about a job (OMA-MMS-ENC 6.2 X-Mms-Status, 6.4)."""

    FETCHED = "fetched"
    ACKNOWLEDGED = "acknowledged"
    #: an operator's MMSC reports the message expired unfetched
    EXPIRED = "expired"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    UNRECOGNISED = "unrecognised"
    #: an operator's MMSC or an aggregator reports the message failed; the job's last status and error say why
    FAILED = "failed"

    @property
    def received(self) -> bool:
        return self in (Handset.FETCHED, Handset.ACKNOWLEDGED)


class Notify(StrEnum):
    """What the sender asked to be told of (RFC 3461 NOTIFY); the default is FAILURE (and DELAY)."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"
    NEVER = "NEVER"


class Report(StrEnum):
    """Which delivery status notification goes to the sender (RFC 3464 Action values)."""

    DELIVERED = "delivered"
    FAILED = "failed"
    DELAYED = "delayed"
    #: sent on as a plain SMS with a link to the message's page instead of as an MMS
    RELAYED = "relayed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: str
    message_id: str
    recipient: MSISDN
    state: JobState
    attempts: int
    created_at: float
    expires_at: float
    next_attempt_at: float
    notify: frozenset[Notify] = frozenset({Notify.FAILURE, Notify.DELAY})
    #: the address of the RCPT command, and the ORCPT parameter (RFC 3461) when the client gave one
    rcpt_to: str = ""
    original_recipient: str | None = None
    lease_until: float | None = None
    last_status: str | None = None
    last_error: str | None = None
    mmsc_id: str | None = None
    delay_notified: bool = False
    #: the secret in the content URL and the notification's Transaction-Id (builtin MMSC)
    token: str = ""
    handset: Handset | None = None
    #: X-Mms-Report-Allowed of the phone's last answer: "No" suppresses the "delivered" report
    report_allowed: bool = True
    #: the route that took the job (pending jobs stay with it: their answers come back through it)
    route: str | None = None
    #: when its state last changed (for a notified job: when the phone was last notified)
    updated_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """One accepted mail, stored once for all its recipients."""

    id: str
    mail_from: str
    received_at: float
    raw: bytes
    mms: bytes
    envid: str | None = None
    ret_full: bool = False
    auto_submitted: bool = False
    subject: str | None = None
    #: what the conversion left out or cut ("report.pdf (a media type the route cannot deliver)", ...)
    changes: tuple[str, ...] = ()
    #: the mail's own Message-ID header (for operators' searches), when it had one
    mail_message_id: str | None = None
    #: sent through the HTTP API: where each recipient's state changes are posted, and the key whose secret signs
    status_callback: str | None = None
    api_key_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    """One job as operators' lists show it: the job and what they filter on of its message."""

    job: Job
    mail_from: str
    subject: str | None
    mail_message_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A key of the HTTP API: only its SHA-256 digest is stored; `webhook_secret` signs its status callbacks."""

    id: str
    name: str
    digest: str
    scopes: frozenset[str]
    created_at: float
    revoked_at: float | None = None
    #: messages per minute it may send (0: no limit)
    rate_per_minute: int = 0
    webhook_secret: str = ""
    #: where the status events of its messages go when a message names none
    status_callback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """One status callback to post: the body is JSON, signed with `secret` (the API key's webhook secret)."""

    id: int
    url: str
    body: str
    secret: str
    attempts: int
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """Who last wrote to a phone number through the bridge: where the phone's reply goes, and what it replies to."""

    number: str
    address: str
    subject: str | None
    #: the Message-IDs of the mails sent to the number, oldest first (for References)
    message_ids: tuple[str, ...]
    last_at: float

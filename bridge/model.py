"""Frozen value types shared by the layers: phone numbers, jobs and their states.

A job is one recipient of one accepted mail. Its life (see `bridge.adapters.store.base` for the store's
side, `bridge.pipeline` for the decisions):

    queued ──lease──▶ leased ──delivered──▶ delivered
      ▲                  │ ──temporary failure──▶ queued (next_attempt_at later)
      │                  │ ──permanent failure──▶ failed   (DSN)
      └──lease expired───┘ ──past expiry──────────▶ expired  (DSN 4.4.7)
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
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in (JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED)


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

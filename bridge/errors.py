"""The exception tree of mms-bridge.

Every error the bridge raises on purpose derives from `BridgeError`; adapters map their libraries' exceptions
onto this tree at the boundary (`raise ... from exc`), so callers catch ours and never a foreign one::

    BridgeError
    ├── CodecError
    │   ├── DecodeError      bytes that are not a valid PDU / push / segment (carries the offset)
    │   │   └── ProtocolError    a peer breaking its session's rules (SMPP)
    │   └── EncodeError      a value that cannot be put on the wire (e.g. a notification without Expiry)
    ├── ConversionRefused    a mail that cannot become an MMS (its RFC 3463 status: 5.3.4, 5.6.1, 5.6.0)
    ├── ImageDropped         one picture that cannot be used (the MMS says why; the rest goes)
    ├── MediaDropped         one sound that cannot be used (likewise)
    ├── ConfigError          a bad configuration file ("section.key: why")
    ├── InputError           a file or argument given to the CLI that it cannot use
    ├── StoreError           the job store cannot be reached or written (intake answers 451 4.3.0)
    ├── DeliveryError        a route could not deliver a job
    │   ├── TemporaryFailure     try again later (network down, MMSC busy, throttled)
    │   │   └── UnknownOutcome       the peer got the request and did not answer: it may have taken it
    │   └── PermanentFailure     never (unknown subscriber, content refused)
    ├── PhoneError           the virtual handset met something a phone would refuse
    └── WorkerDied           the delivery worker ended before shutdown (`bridge serve` exits 70)

Every route and transport classifies what its peer answered with one `Verdict` and an RFC 3463 status, and
turns a failure into the matching exception with `failure()`.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """What a peer's answer means for a job."""

    SUCCESS = "success"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class BridgeError(Exception):
    """Base of every error raised by mms-bridge on purpose."""


class CodecError(BridgeError):
    """Base of the codec's errors."""


class DecodeError(CodecError):
    """Bytes that cannot be decoded: `offset` is where the decoder stopped, `expected` what it wanted."""

    def __init__(self, offset: int, expected: str) -> None:
        super().__init__(f"offset {offset}: {expected}")
        self.offset = offset
        self.expected = expected


class EncodeError(CodecError):
    """A value that cannot be encoded on the wire."""


class ProtocolError(DecodeError):
    """A peer broke its session's rules (an SMPP response nobody asked for, a PDU not allowed in this state)."""


class ConversionRefused(BridgeError):
    """The mail cannot become an MMS. `status` is the RFC 3463 code intake answers with (after 554)."""

    def __init__(self, reason: str, status: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ImageDropped(BridgeError):
    """A picture that cannot be used; the message says why, for the note in the MMS."""


class MediaDropped(BridgeError):
    """A sound (or clip) that cannot be used; the message says why, for the note in the MMS."""


class InputError(BridgeError):
    """A file or argument the CLI cannot use; the message names it (and the offset, for a PDU)."""


class PhoneError(BridgeError):
    """What the virtual handset refuses, as a phone would."""


class WorkerDied(BridgeError):
    """The delivery worker ended before shutdown; `bridge serve` exits with status 70 (EX_SOFTWARE)."""


class ConfigError(BridgeError):
    """A configuration problem; the message starts with `section.key:` or the file name."""


class RequestRefused(BridgeError):
    """An HTTP API request refused: the HTTP `status`, a short `title`, the detail (the message) and the RFC 3463
    `code` when the refusal is the one SMTP would give (answered as RFC 9457 problem details)."""

    def __init__(self, status: int, title: str, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code


class StoreError(BridgeError):
    """The job store failed; nothing was committed."""


class DeliveryError(BridgeError):
    """A route could not deliver; `status` is the RFC 3463 code a DSN reports (e.g. "4.4.1", "5.1.1")."""

    def __init__(self, detail: str, status: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class TemporaryFailure(DeliveryError):
    """Worth another try later; not before `retry_after_s` seconds when that is set."""

    def __init__(self, detail: str, status: str, *, retry_after_s: float = 0.0) -> None:
        super().__init__(detail, status)
        self.retry_after_s = retry_after_s


class UnknownOutcome(TemporaryFailure):
    """The request reached the peer and no answer came (a timeout or a dropped connection after sending): it may
    have been taken, so another try may deliver the message twice."""


class PermanentFailure(DeliveryError):
    """Will never work: bounce now."""


def failure(verdict: Verdict, detail: str, status: str) -> TemporaryFailure | PermanentFailure:
    """The exception for a failed answer that a route or transport classified (`verdict` is not SUCCESS)."""
    if verdict is Verdict.PERMANENT:
        return PermanentFailure(detail, status)
    return TemporaryFailure(detail, status)

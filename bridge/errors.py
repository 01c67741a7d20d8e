"""The exception tree of mms-bridge.

Every error the bridge raises on purpose derives from `BridgeError`; adapters map their libraries' exceptions
onto this tree at the boundary (`raise ... from exc`), so callers catch ours and never a foreign one::

    BridgeError
    ├── CodecError
    │   ├── DecodeError      bytes that are not a valid PDU / push / segment (carries the offset)
    │   └── EncodeError      a value that cannot be put on the wire (e.g. a notification without Expiry)
    ├── ConfigError          a bad configuration file ("section.key: why")
    ├── StoreError           the job store cannot be reached or written (intake answers 451 4.3.0)
    └── DeliveryError        a route could not deliver a job
        ├── TemporaryFailure     try again later (network down, MMSC busy, throttled)
        └── PermanentFailure     never (unknown subscriber, content refused)
"""

from __future__ import annotations


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


class ConfigError(BridgeError):
    """A configuration problem; the message starts with `section.key:` or the file name."""


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

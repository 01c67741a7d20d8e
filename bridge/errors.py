"""The exception tree of mms-bridge.

Every error the bridge raises on purpose derives from `BridgeError`; adapters map their libraries' exceptions
onto this tree at the boundary (`raise ... from exc`), so callers catch ours and never a foreign one::

    BridgeError
    ├── CodecError
    │   ├── DecodeError      bytes that are not a valid PDU / push / segment (carries the offset)
    │   └── EncodeError      a value that cannot be put on the wire (e.g. a notification without Expiry)
    └── ConfigError          a bad configuration file ("section.key: why")
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

"""Text in short messages: the GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 6.2.1, 6.2.1.1),
UCS-2 (TS 23.038 5, as UTF-16BE), which of the two a text needs and how many characters fit one SMS, and the
concatenation header of a segment (TS 23.040 9.2.3.24.1 8-bit and 9.2.3.24.8 16-bit reference).

SMPP and Kannel carry GSM 7-bit text unpacked, one septet per octet (SMPP 3.4 5.2.19, data_coding 0 as the
SMSC's default alphabet); that is the form encoded and decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bridge.errors import DecodeError, EncodeError

#: TS 23.038 6.2.1: the default alphabet, septet value = index
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: TS 23.038 6.2.1.1: the extension table, reached by the escape septet 0x1B
GSM7_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
                  0x40: "|", 0x65: "€"}  # fmt: skip
ESCAPE = 0x1B
_BASIC = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESCAPE}
_EXTENDED = {ch: code for code, ch in GSM7_EXTENSION.items()}

#: characters in one SMS without a header: 160 septets, or 70 UCS-2 characters (TS 23.040 9.2.3.16)
GSM7_SINGLE = 160
UCS2_SINGLE = 70


class DataCoding(IntEnum):
    """SMPP data_coding (SMPP 3.4 5.2.19) / the TP-DCS alphabets of TS 23.038 4 that texts use."""

    DEFAULT = 0x00  # the SMSC's default alphabet: GSM 7-bit
    IA5 = 0x01
    LATIN1 = 0x03
    BINARY = 0x04
    UCS2 = 0x08


def gsm7_septets(text: str) -> int | None:
    """Septets `text` takes in the GSM 7-bit alphabet (an extension character takes two); None when a character
    is in neither table (the text needs UCS-2)."""
    count = 0
    for ch in text:
        if ch in _BASIC:
            count += 1
        elif ch in _EXTENDED:
            count += 2
        else:
            return None
    return count


def encode_gsm7(text: str) -> bytes:
    """`text` as unpacked GSM 7-bit (one septet per octet)."""
    out = bytearray()
    for ch in text:
        if ch in _BASIC:
            out.append(_BASIC[ch])
        elif ch in _EXTENDED:
            out += bytes((ESCAPE, _EXTENDED[ch]))
        else:
            raise EncodeError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Unpacked GSM 7-bit text. An escape before a code the extension table lacks reads as that code's basic
    character (TS 23.038 6.2.1.1: a receiver shows the basic one); a value over 0x7F is not a septet."""
    out = []
    escaped = False
    for offset, octet in enumerate(data):
        if octet > 0x7F:
            raise DecodeError(offset, "a septet (0x00-0x7F) of GSM 7-bit text")
        if escaped:
            out.append(GSM7_EXTENSION.get(octet, GSM7_BASIC[octet] if octet != ESCAPE else " "))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            out.append(GSM7_BASIC[octet])
    return "".join(out)


def decode_text(data: bytes, coding: int) -> str:
    """The text of a short message in `coding` (SMPP data_coding); binary data is not text."""
    if coding == DataCoding.DEFAULT:
        return decode_gsm7(data)
    if coding == DataCoding.UCS2:
        if len(data) % 2:
            raise DecodeError(len(data) - 1, "UCS-2 text of an even number of octets")
        return data.decode("utf-16-be", "replace")
    if coding in (DataCoding.IA5, DataCoding.LATIN1):
        return data.decode("latin-1")
    raise DecodeError(0, f"text (data_coding 0, 1, 3 or 8), got data_coding {coding:#04x}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One part of a concatenated short message (its UDH's information element 0x00 or 0x08)."""

    reference: int
    total: int
    number: int


def split_udh(user_data: bytes) -> tuple[Segment | None, bytes]:
    """A TP-User-Data with its header (TP-UDHI set): the concatenation element if there is one, and the rest
    after the header. Other elements are skipped (TS 23.040 9.2.3.24)."""
    if not user_data:
        raise DecodeError(0, "a user data header length")
    length = user_data[0]
    if length + 1 > len(user_data):
        raise DecodeError(0, f"a user data header of {length} octets inside {len(user_data) - 1}")
    header, rest = user_data[1 : 1 + length], user_data[1 + length :]
    found = None
    i = 0
    while i + 2 <= len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if len(value) != size:
            raise DecodeError(1 + i, f"information element {iei:#04x} of {size} octets")
        if iei == 0x00 and size == 3:
            found = Segment(reference=value[0], total=value[1], number=value[2])
        elif iei == 0x08 and size == 4:
            found = Segment(reference=value[0] << 8 | value[1], total=value[2], number=value[3])
        i += 2 + size
    if found is not None and not (1 <= found.number <= found.total):
        raise DecodeError(1, f"segment {found.number} of {found.total}")
    return found, rest


def concatenation_udh(segment: Segment) -> bytes:
    """The UDH of one segment: the 8-bit reference element when the reference fits, else the 16-bit one."""
    if segment.reference < 256:
        return bytes((5, 0x00, 3, segment.reference, segment.total, segment.number))
    return bytes((6, 0x08, 4, segment.reference >> 8, segment.reference & 0xFF, segment.total, segment.number))

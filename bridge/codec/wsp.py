"""WSP primitive encodings (WAP-230-WSP section 8.4.2) and the WSP Content-Type value.

Owns: uintvar, short/long/integer values, value-length, text-string, quoted-string, token-text,
encoded-string-value (with a charset), date, the generic header-value skip rule (8.4.1.2) and
`ContentType` with its well-known and textual parameters (8.4.2.24, Table 38).

Decoding goes through `Reader`, a cursor over one immutable buffer: it hands out zero-copy `memoryview`
slices and turns every overrun into `DecodeError(offset, expected)`. Encoders are plain functions that
return `bytes`; the PDU encoders join them.
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.codec.tables import (
    CHARSET_NAMES,
    MEDIA_CODES,
    PYTHON_CODECS,
    WellKnownMedia,
    WellKnownParameter,
    charset_name,
)
from bridge.errors import DecodeError, EncodeError

Buffer = bytes | bytearray | memoryview

#: WSP: "Length-quote = <Octet 31>"; "Quote = <Octet 127>"; "End-of-string = <Octet 0>"
LENGTH_QUOTE = 31
TEXT_QUOTE = 0x7F
QUOTED_STRING_START = 0x22
NO_VALUE = 0x00
#: Well-known-charset "Any-charset = <Octet 128>"
ANY_CHARSET = 0x80


class Reader:
    """A bounds-checked cursor over one buffer; every read past `end` raises `DecodeError`."""

    __slots__ = ("_data", "_view", "end", "pos")

    def __init__(self, data: Buffer, pos: int = 0, end: int | None = None) -> None:
        if isinstance(data, memoryview):
            data = data.tobytes()
        self._data: bytes | bytearray = data
        self._view = memoryview(data)
        self.pos = pos
        self.end = len(data) if end is None else end

    def sub(self, length: int, what: str) -> Reader:
        """A reader over the next `length` octets; this one skips past them."""
        start = self.pos
        stop = start + length
        if stop > self.end:
            raise DecodeError(start, f"{what}: {length} octets, only {self.end - start} left")
        self.pos = stop
        child = Reader.__new__(Reader)
        child._data = self._data
        child._view = self._view
        child.pos = start
        child.end = stop
        return child

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self, what: str) -> int:
        if self.pos >= self.end:
            raise DecodeError(self.pos, f"{what} (the data ends here)")
        return self._data[self.pos]

    def octet(self, what: str) -> int:
        pos = self.pos
        if pos >= self.end:
            raise DecodeError(pos, f"{what} (the data ends here)")
        self.pos = pos + 1
        return self._data[pos]

    def take(self, length: int, what: str) -> memoryview:
        start = self.pos
        stop = start + length
        if length < 0 or stop > self.end:
            raise DecodeError(start, f"{what}: {length} octets, only {self.end - start} left")
        self.pos = stop
        return self._view[start:stop]

    def rest(self) -> memoryview:
        start = self.pos
        self.pos = self.end
        return self._view[start : self.end]

    def until_nul(self, what: str) -> bytes:
        """The octets up to the next NUL (consumed, not returned)."""
        start = self.pos
        nul = self._data.find(0, start, self.end)
        if nul < 0:
            raise DecodeError(start, f"{what}: a NUL-terminated string")
        self.pos = nul + 1
        return bytes(self._data[start:nul])

    # --- WSP 8.4.2.1 basic rules -------------------------------------------------------------------------

    def uintvar(self, what: str) -> int:
        """Uintvar-integer: 1..5 octets, 7 bits each, high bit = more follow; at most 32 bits."""
        start = self.pos
        value = 0
        for _ in range(5):
            o = self.octet(f"{what}: uintvar")
            value = (value << 7) | (o & 0x7F)
            if not o & 0x80:
                if value > 0xFFFFFFFF:
                    raise DecodeError(start, f"{what}: uintvar over 32 bits")
                return value
        raise DecodeError(start, f"{what}: uintvar of at most 5 octets")

    def short_integer(self, what: str) -> int:
        o = self.octet(what)
        if o < 0x80:
            raise DecodeError(self.pos - 1, f"{what}: a short-integer (octet >= 0x80), got 0x{o:02X}")
        return o & 0x7F

    def long_integer(self, what: str) -> int:
        start = self.pos
        n = self.octet(f"{what}: long-integer length")
        if n == 0 or n > 30:
            raise DecodeError(start, f"{what}: a long-integer (length 1..30), got 0x{n:02X}")
        return int.from_bytes(self.take(n, what), "big")

    def integer_value(self, what: str) -> int:
        """Integer-value = Short-integer | Long-integer."""
        if self.peek(what) >= 0x80:
            return self.octet(what) & 0x7F
        return self.long_integer(what)

    def value_length(self, what: str) -> int:
        """Value-length = Short-length (0..30) | Length-quote Length (uintvar); checked against the buffer."""
        start = self.pos
        o = self.octet(f"{what}: value-length")
        if o < LENGTH_QUOTE:
            n = o
        elif o == LENGTH_QUOTE:
            n = self.uintvar(f"{what}: value-length")
        else:
            raise DecodeError(start, f"{what}: a value-length (octet <= 31), got 0x{o:02X}")
        if n > self.remaining:
            raise DecodeError(start, f"{what}: value-length {n} runs past the end ({self.remaining} left)")
        return n

    def text_string(self, what: str) -> str:
        """Text-string = [Quote] *TEXT End-of-string (the quote precedes text whose first octet is >= 128)."""
        if self.peek(what) == TEXT_QUOTE:
            self.pos += 1
        return _decode_text(self.until_nul(what))

    def quoted_string(self, what: str) -> str:
        """Quoted-string = <Octet 34> *TEXT End-of-string; lenient: a plain text-string is accepted too."""
        if self.peek(what) == QUOTED_STRING_START:
            self.pos += 1
        return _decode_text(self.until_nul(what))

    def text_value(self, what: str) -> str:
        """Text-value = No-value | Token-text | Quoted-string."""
        o = self.peek(what)
        if o == NO_VALUE:
            self.pos += 1
            return ""
        if o == QUOTED_STRING_START:
            self.pos += 1
        return _decode_text(self.until_nul(what))

    def encoded_string(self, what: str) -> str:
        """Encoded-string-value = Text-string | Value-length Char-set Text-string (OMA-MMS-ENC 7.2.9)."""
        o = self.peek(what)
        if o == NO_VALUE or o > LENGTH_QUOTE:
            return self.text_string(what)
        n = self.value_length(what)
        inner = self.sub(n, what)
        charset = inner.charset(what)
        if inner.peek(what) == TEXT_QUOTE:
            inner.pos += 1
        raw = inner.until_nul(what)
        return decode_charset(raw, charset)

    def charset(self, what: str) -> int:
        """Well-known-charset = Any-charset | Integer-value; Any-charset is returned as 0."""
        if self.peek(what) == ANY_CHARSET:
            self.pos += 1
            return 0
        return self.integer_value(f"{what}: charset")

    def date(self, what: str) -> datetime:
        """Date-value = Long-integer seconds since 1970-01-01 UTC."""
        start = self.pos
        seconds = self.long_integer(what)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DecodeError(start, f"{what}: a date, got {seconds} seconds") from exc

    def skip_value(self, what: str) -> memoryview:
        """Any header value by the generic rule of WSP 8.4.1.2; returns its raw octets."""
        start = self.pos
        o = self.octet(what)
        if o <= LENGTH_QUOTE:
            self.pos = start
            n = self.value_length(what)
            self.pos += n
        elif o < 0x80:
            self.until_nul(what)
        return self._view[start : self.pos]


def _decode_text(raw: bytes) -> str:
    # Header text without a charset is US-ASCII by the spec; real senders put UTF-8 or Latin-1 there.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_charset(raw: bytes, mib: int) -> str:
    """Bytes in the charset of a MIBenum; unknown charsets fall back like unlabelled text; never raises."""
    name = PYTHON_CODECS.get(mib)
    if name is None:
        return _decode_text(raw)
    return codecs.decode(raw, name, "replace")


# --- encoders ----------------------------------------------------------------------------------------------


def encode_uintvar(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(f"uintvar out of range: {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode_short_integer(value: int) -> bytes:
    if not 0 <= value <= 0x7F:
        raise EncodeError(f"short-integer out of range: {value}")
    return bytes((0x80 | value,))


def encode_long_integer(value: int) -> bytes:
    if value < 0:
        raise EncodeError(f"long-integer cannot be negative: {value}")
    n = max(1, (value.bit_length() + 7) // 8)
    if n > 30:
        raise EncodeError(f"long-integer over 30 octets: {value}")
    return bytes((n,)) + value.to_bytes(n, "big")


def encode_integer_value(value: int) -> bytes:
    return encode_short_integer(value) if 0 <= value < 0x80 else encode_long_integer(value)


def encode_value_length(length: int) -> bytes:
    if length < LENGTH_QUOTE:
        return bytes((length,))
    return bytes((LENGTH_QUOTE,)) + encode_uintvar(length)


def with_value_length(value: bytes) -> bytes:
    return encode_value_length(len(value)) + value


def _text_octets(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if b"\x00" in raw:
        raise EncodeError(f"{what}: text cannot contain NUL")
    return raw


def encode_text_string(text: str, what: str = "text") -> bytes:
    raw = _text_octets(text, what)
    if raw and raw[0] >= TEXT_QUOTE:
        return bytes((TEXT_QUOTE,)) + raw + b"\x00"
    return raw + b"\x00"


def encode_quoted_string(text: str, what: str = "text") -> bytes:
    return bytes((QUOTED_STRING_START,)) + _text_octets(text, what) + b"\x00"


def encode_token_text(text: str, what: str = "token") -> bytes:
    raw = _text_octets(text, what)
    if not raw or raw[0] < 0x20 or raw[0] >= TEXT_QUOTE or raw[0] == QUOTED_STRING_START:
        raise EncodeError(f"{what}: {text!r} is not a token")
    return raw + b"\x00"


def encode_encoded_string(text: str, what: str = "text") -> bytes:
    """Plain text-string for printable ASCII; otherwise Value-length + UTF-8 (0xEA, one octet) + text.

    Android reads only single-octet charset codes, so UTF-8 (short-integer 106) is the one we write.
    """
    raw = _text_octets(text, what)
    if raw.isascii() and (not raw or raw[0] >= 0x20):
        return encode_text_string(text, what)
    body = encode_short_integer(106) + encode_text_string(text, what)
    return with_value_length(body)


def encode_date(value: datetime) -> bytes:
    if value.tzinfo is None:
        raise EncodeError("dates must be timezone-aware")
    return encode_long_integer(int(value.timestamp()))


# --- Content-Type (WSP 8.4.2.24) ---------------------------------------------------------------------------

#: parameter name -> the well-known code the encoder writes (the 1.1-1.3 codes every MMS client reads)
_PARAM_ENCODE: dict[str, WellKnownParameter] = {
    "charset": WellKnownParameter.CHARSET,
    "type": WellKnownParameter.TYPE_MULTIPART_RELATED,
    "start": WellKnownParameter.START_DEPRECATED,
    "start-info": WellKnownParameter.START_INFO_DEPRECATED,
    "name": WellKnownParameter.NAME_DEPRECATED,
    "filename": WellKnownParameter.FILENAME_DEPRECATED,
}

_PARAM_NAMES: dict[int, str] = {
    WellKnownParameter.Q: "q",
    WellKnownParameter.CHARSET: "charset",
    WellKnownParameter.LEVEL: "level",
    WellKnownParameter.TYPE: "type",
    WellKnownParameter.NAME_DEPRECATED: "name",
    WellKnownParameter.FILENAME_DEPRECATED: "filename",
    WellKnownParameter.DIFFERENCES: "differences",
    WellKnownParameter.PADDING: "padding",
    WellKnownParameter.TYPE_MULTIPART_RELATED: "type",
    WellKnownParameter.START_DEPRECATED: "start",
    WellKnownParameter.START_INFO_DEPRECATED: "start-info",
    WellKnownParameter.COMMENT_DEPRECATED: "comment",
    WellKnownParameter.DOMAIN_DEPRECATED: "domain",
    WellKnownParameter.MAX_AGE: "max-age",
    WellKnownParameter.PATH_DEPRECATED: "path",
    WellKnownParameter.SECURE: "secure",
    WellKnownParameter.SEC: "sec",
    WellKnownParameter.MAC: "mac",
    WellKnownParameter.CREATION_DATE: "creation-date",
    WellKnownParameter.MODIFICATION_DATE: "modification-date",
    WellKnownParameter.READ_DATE: "read-date",
    WellKnownParameter.SIZE: "size",
    WellKnownParameter.NAME: "name",
    WellKnownParameter.FILENAME: "filename",
    WellKnownParameter.START: "start",
    WellKnownParameter.START_INFO: "start-info",
    WellKnownParameter.COMMENT: "comment",
    WellKnownParameter.DOMAIN: "domain",
    WellKnownParameter.PATH: "path",
}

_TEXT_STRING_PARAMS = frozenset(
    {
        WellKnownParameter.NAME_DEPRECATED,
        WellKnownParameter.FILENAME_DEPRECATED,
        WellKnownParameter.START_DEPRECATED,
        WellKnownParameter.START_INFO_DEPRECATED,
        WellKnownParameter.COMMENT_DEPRECATED,
        WellKnownParameter.DOMAIN_DEPRECATED,
        WellKnownParameter.PATH_DEPRECATED,
    }
)
_TEXT_VALUE_PARAMS = frozenset(
    {
        WellKnownParameter.MAC,
        WellKnownParameter.NAME,
        WellKnownParameter.FILENAME,
        WellKnownParameter.START,
        WellKnownParameter.START_INFO,
        WellKnownParameter.COMMENT,
        WellKnownParameter.DOMAIN,
        WellKnownParameter.PATH,
    }
)
_DATE_PARAMS = frozenset(
    {WellKnownParameter.CREATION_DATE, WellKnownParameter.MODIFICATION_DATE, WellKnownParameter.READ_DATE}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentType:
    """A media type with its parameters. `charset` is an IANA MIBenum; other parameters keep their order."""

    media_type: str
    charset: int | None = None
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def __str__(self) -> str:
        out = [self.media_type]
        if self.charset is not None:
            out.append(f"charset={charset_name(self.charset)}")
        out.extend(f'{k}="{v}"' for k, v in self.params)
        return "; ".join(out)


def media_type_name(code: int, offset: int) -> str:
    try:
        return WellKnownMedia(code).media_type
    except ValueError:
        raise DecodeError(offset, f"an assigned well-known content type, got 0x{code:02X}") from None


def read_content_type(r: Reader, what: str = "Content-Type") -> ContentType:
    """Content-type-value = Constrained-media | Content-general-form."""
    start = r.pos
    o = r.peek(what)
    if o >= 0x80:
        r.pos += 1
        return ContentType(media_type=media_type_name(o & 0x7F, start))
    if o > LENGTH_QUOTE:
        return ContentType(media_type=r.text_string(what))
    n = r.value_length(what)
    inner = r.sub(n, what)
    mstart = inner.pos
    mo = inner.peek(f"{what}: media type")
    if mo >= 0x80 or mo <= LENGTH_QUOTE:
        media = media_type_name(inner.integer_value(f"{what}: media type"), mstart)
    else:
        media = inner.text_string(f"{what}: media type")
    charset: int | None = None
    params: list[tuple[str, str]] = []
    while not inner.at_end():
        name, value = _read_parameter(inner, what)
        mib = _charset_mib(value) if name == "charset" and charset is None else None
        if mib is not None:
            charset = mib
        else:
            params.append((name, value))
    return ContentType(media_type=media, charset=charset, params=tuple(params))


def _charset_mib(value: str) -> int | None:
    """A charset parameter's MIBenum, whether it came as a number or (untyped) as a name."""
    if value.isdigit():
        return int(value)
    return CHARSET_NAMES.get(value.lower())


def _read_parameter(r: Reader, what: str) -> tuple[str, str]:
    start = r.pos
    o = r.peek(f"{what}: parameter")
    if o < 0x20 or o >= 0x80:
        # Typed-parameter = Well-known-parameter-token Typed-value
        code = r.integer_value(f"{what}: parameter")
        name = _PARAM_NAMES.get(code)
        if name is None:
            raise DecodeError(start, f"{what}: a well-known parameter, got 0x{code:02X}")
        pw = f"{what}: {name}"
        if code == WellKnownParameter.CHARSET:
            mib = r.charset(pw)
            return name, "*" if mib == 0 else str(mib)
        if code == WellKnownParameter.TYPE_MULTIPART_RELATED:
            return name, _read_constrained_media(r, pw)
        if code in _TEXT_STRING_PARAMS:
            return name, r.text_string(pw)
        if code in _TEXT_VALUE_PARAMS:
            return name, r.text_value(pw)
        if code in _DATE_PARAMS:
            return name, r.date(pw).isoformat()
        if code == WellKnownParameter.SECURE:
            r.octet(pw)
            return name, ""
        if code == WellKnownParameter.DIFFERENCES:
            if r.peek(pw) >= 0x80:
                return name, str(r.octet(pw) & 0x7F)
            return name, r.text_string(pw)
        if code == WellKnownParameter.LEVEL:
            if r.peek(pw) >= 0x80:
                v = r.octet(pw) & 0x7F
                return name, f"{v >> 4}.{v & 0x0F}"
            return name, r.text_string(pw)
        if code == WellKnownParameter.Q:
            return name, str(r.uintvar(pw))
        return name, str(r.integer_value(pw))
    # Untyped-parameter = Token-text Untyped-value
    name = r.until_nul(f"{what}: parameter name").decode("latin-1").lower()
    pw = f"{what}: {name}"
    vo = r.peek(pw)
    if vo >= 0x80 or (0 < vo <= LENGTH_QUOTE):
        return name, str(r.integer_value(pw))
    return name, r.text_value(pw)


def _read_constrained_media(r: Reader, what: str) -> str:
    start = r.pos
    o = r.peek(what)
    if o >= 0x80:
        r.pos += 1
        return media_type_name(o & 0x7F, start)
    return r.text_string(what)


@functools.lru_cache(maxsize=4096)
def encode_content_type(ct: ContentType) -> bytes:
    """The general form when there are parameters, else the short form (a well-known code or the text).

    Cached: a value is hashable and frozen, and the same few content types recur in every PDU."""
    code = MEDIA_CODES.get(ct.media_type.lower())
    media = encode_integer_value(code) if code is not None else encode_text_string(ct.media_type, "media type")
    if ct.charset is None and not ct.params:
        return media
    parts = [media]
    if ct.charset is not None:
        parts.append(bytes((0x80 | WellKnownParameter.CHARSET,)) + encode_integer_value(ct.charset))
    for name, value in ct.params:
        key = name.lower()
        if key == "charset":
            if value == "*":
                parts.append(bytes((0x80 | WellKnownParameter.CHARSET, ANY_CHARSET)))
                continue
            mib = CHARSET_NAMES.get(value.lower())
            if mib is None:
                if not value.isdigit():
                    raise EncodeError(f"Content-Type: unknown charset {value!r}")
                mib = int(value)
            parts.append(bytes((0x80 | WellKnownParameter.CHARSET,)) + encode_integer_value(mib))
            continue
        wk = _PARAM_ENCODE.get(key)
        if wk is WellKnownParameter.TYPE_MULTIPART_RELATED:
            tcode = MEDIA_CODES.get(value.lower())
            enc = encode_short_integer(tcode) if tcode is not None else encode_text_string(value, key)
            parts.append(bytes((0x80 | wk,)) + enc)
        elif wk is not None:
            parts.append(bytes((0x80 | wk,)) + encode_text_string(value, key))
        else:
            parts.append(encode_token_text(key, "parameter name") + _encode_text_value(value, key))
    return with_value_length(b"".join(parts))


def _encode_text_value(value: str, what: str) -> bytes:
    if not value:
        return b"\x00"
    return encode_quoted_string(value, what)

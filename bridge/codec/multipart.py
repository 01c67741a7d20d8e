"""The WSP multipart body (WAP-230-WSP section 8.5) that carries an MMS's parts, and raw header fields.

Owns `BodyPart` (Content-Type, Content-ID, Content-Location, other headers, data), `RawHeader` (a header this
codec keeps as octets so that it survives a decode/encode round trip) and the multipart encoder and decoder.
Part data is handed out as a zero-copy `memoryview` of the decoded buffer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.codec.tables import WspHeaderField
from bridge.codec.wsp import (
    ContentType,
    Reader,
    encode_content_type,
    encode_quoted_string,
    encode_text_string,
    encode_token_text,
    encode_uintvar,
    read_content_type,
)
from bridge.errors import DecodeError, EncodeError


@dataclass(frozen=True, slots=True, kw_only=True)
class RawHeader:
    """A header kept as its encoded value: `code` for a well-known field, else `name` (application header)."""

    name: str
    value: bytes
    code: int | None = None

    def encode(self) -> bytes:
        if self.code is not None:
            return bytes((0x80 | self.code,)) + self.value
        return encode_token_text(self.name, "header name") + self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyPart:
    """One entry of a multipart body. `content_id` is as on the wire, usually with angle brackets."""

    content_type: ContentType
    data: bytes | memoryview
    content_id: str | None = None
    content_location: str | None = None
    headers: tuple[RawHeader, ...] = ()


def _encode_part_headers(part: BodyPart) -> bytes:
    out = [encode_content_type(part.content_type)]
    if part.content_id is not None:
        # Android and most handsets read Content-ID as a quoted-string
        out.append(bytes((0x80 | WspHeaderField.CONTENT_ID,)) + encode_quoted_string(part.content_id))
    if part.content_location is not None:
        out.append(bytes((0x80 | WspHeaderField.CONTENT_LOCATION,)) + encode_text_string(part.content_location))
    out.extend(h.encode() for h in part.headers)
    return b"".join(out)


def encode_multipart(parts: Iterable[BodyPart], out: list[bytes]) -> None:
    """Append the multipart body's chunks to `out` (joined once by the caller, so data is copied once)."""
    items = list(parts)
    out.append(encode_uintvar(len(items)))
    for i, part in enumerate(items, 1):
        if not part.data:
            # WSP allows it, but an empty entry carries nothing and trips real parsers (Wireshark's MMSE)
            raise EncodeError(f"multipart entry {i} ({part.content_type.media_type}) has no data")
        headers = _encode_part_headers(part)
        out.append(encode_uintvar(len(headers)) + encode_uintvar(len(part.data)) + headers)
        out.append(part.data if isinstance(part.data, bytes) else bytes(part.data))


def decode_multipart(r: Reader) -> tuple[BodyPart, ...]:
    start = r.pos
    count = r.uintvar("multipart: number of entries")
    # Every entry takes at least 3 octets, so a hostile count cannot make us loop for long.
    if count * 3 > r.remaining:
        raise DecodeError(start, f"multipart: {count} entries, only {r.remaining} octets left")
    parts = []
    for i in range(count):
        what = f"multipart entry {i + 1}"
        headers_len = r.uintvar(f"{what}: HeadersLen")
        data_len = r.uintvar(f"{what}: DataLen")
        hr = r.sub(headers_len, f"{what}: headers")
        ct = read_content_type(hr, f"{what}: Content-Type")
        content_id: str | None = None
        location: str | None = None
        raw: list[RawHeader] = []
        while not hr.at_end():
            hstart = hr.pos
            o = hr.peek(f"{what}: header")
            if o >= 0x80:
                hr.pos += 1
                code = o & 0x7F
                if code == WspHeaderField.CONTENT_ID and content_id is None:
                    content_id = hr.quoted_string(f"{what}: Content-ID")
                elif code == WspHeaderField.CONTENT_LOCATION and location is None:
                    location = hr.text_string(f"{what}: Content-Location")
                else:
                    name = _wsp_field_name(code)
                    raw.append(RawHeader(name=name, code=code, value=bytes(hr.skip_value(f"{what}: {name}"))))
            elif o >= 0x20:
                name = hr.until_nul(f"{what}: header name").decode("latin-1")
                raw.append(RawHeader(name=name, value=bytes(hr.skip_value(f"{what}: {name}"))))
            else:
                raise DecodeError(hstart, f"{what}: a header field name, got 0x{o:02X}")
        data = r.take(data_len, f"{what}: data")
        parts.append(
            BodyPart(
                content_type=ct,
                data=data,
                content_id=content_id,
                content_location=location,
                headers=tuple(raw),
            )
        )
    return tuple(parts)


def _wsp_field_name(code: int) -> str:
    try:
        return WspHeaderField(code).name.replace("_", "-").title()
    except ValueError:
        return f"WSP-Header-0x{code:02X}"

"""WAP Push over SMS: the WSP connectionless push PDU and its SMS segmentation.

Follows WAP-230-WSP section 8.2.4.1 (Push PDU), WAP-259-WDP (the port addressing in the user data header) and
3GPP TS 23.040 section 9.2.3.24 (the UDH information elements: concatenation, 8- and 16-bit references,
8- and 16-bit application ports).

An MMS notification travels as: UDH `06 05 04 0B 84 23 F0` (16-bit ports, destination 2948, source 9200), then
`TID 06 <headers-length> BE AF 84` (Push, Content-Type application/vnd.wap.mms-message,
X-Wap-Application-Id x-wap-application:mms.ua), then the m-notification-ind. Each SMS carries at most 140
octets of user data; only when one SMS is not enough the concatenation IE `00 03 ref total seq` is added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from bridge.codec.multipart import RawHeader
from bridge.codec.tables import PushApplicationId, WellKnownMedia, WspHeaderField, WspPduType
from bridge.codec.wsp import ContentType, Reader, encode_content_type, encode_uintvar, read_content_type
from bridge.errors import DecodeError, EncodeError


class InformationElement(IntEnum):
    """3GPP TS 23.040 9.2.3.24, Information Element Identifiers used here."""

    CONCAT_8BIT = 0x00
    PORT_8BIT = 0x04
    PORT_16BIT = 0x05
    CONCAT_16BIT = 0x08


#: WAP-259-WDP Appendix B: the WAP Push connectionless port and the WSP source port
WAP_PUSH_PORT: Final = 2948
WSP_SOURCE_PORT: Final = 9200
MAX_USER_DATA: Final = 140
MAX_SEGMENTS: Final = 255

_MMS_CONTENT_TYPE: Final = ContentType(media_type=WellKnownMedia.APPLICATION_VND_WAP_MMS_MESSAGE.media_type)
_PORT_IE: Final = bytes((InformationElement.PORT_16BIT, 4))
_APP_IDS: Final = {f"x-wap-application:{m.name.lower().replace('_', '.')}": m for m in PushApplicationId}


@dataclass(frozen=True, slots=True, kw_only=True)
class WspPush:
    """A decoded WSP Push PDU. `application_id` is the well-known code, or the text when it is not one."""

    transaction_id: int
    content_type: ContentType
    body: bytes | memoryview
    application_id: PushApplicationId | int | str | None = None
    headers: tuple[RawHeader, ...] = ()
    pdu_type: WspPduType = WspPduType.PUSH


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsSegment:
    """The user data of one SMS: its ports, its place in a concatenated message, and its payload."""

    destination_port: int | None
    source_port: int | None
    payload: bytes | memoryview
    reference: int | None = None
    total: int = 1
    sequence: int = 1


def encode_wsp_push(
    body: bytes,
    *,
    transaction_id: int = 0,
    content_type: ContentType = _MMS_CONTENT_TYPE,
    application_id: PushApplicationId = PushApplicationId.MMS_UA,
) -> bytes:
    """A connectionless WSP Push PDU carrying `body` (by default an MMS PDU for the MMS user agent)."""
    if not 0 <= transaction_id <= 0xFF:
        raise EncodeError(f"WSP transaction id must be one octet, got {transaction_id}")
    headers = encode_content_type(content_type) + bytes(
        (0x80 | WspHeaderField.X_WAP_APPLICATION_ID, 0x80 | application_id)
    )
    return bytes((transaction_id, WspPduType.PUSH)) + encode_uintvar(len(headers)) + headers + body


def decode_wsp_push(data: bytes | bytearray | memoryview) -> WspPush:
    r = Reader(data)
    tid = r.octet("WSP transaction id")
    tstart = r.pos
    ptype = r.octet("WSP PDU type")
    if ptype not in (WspPduType.PUSH, WspPduType.CONFIRMED_PUSH):
        raise DecodeError(tstart, f"a WSP Push PDU type (0x06 or 0x07), got 0x{ptype:02X}")
    headers_len = r.uintvar("WSP push headers length")
    hr = r.sub(headers_len, "WSP push headers")
    ct = read_content_type(hr, "WSP push Content-Type")
    app_id: PushApplicationId | int | str | None = None
    raw: list[RawHeader] = []
    while not hr.at_end():
        hstart = hr.pos
        o = hr.octet("WSP push header")
        if o == 0x80 | WspHeaderField.X_WAP_APPLICATION_ID and app_id is None:
            if hr.peek("X-Wap-Application-Id") >= 0x80 or hr.peek("X-Wap-Application-Id") <= 30:
                code = hr.integer_value("X-Wap-Application-Id")
                try:
                    app_id = PushApplicationId(code)
                except ValueError:
                    app_id = code
            else:
                text = hr.text_string("X-Wap-Application-Id")
                app_id = _APP_IDS.get(text.lower(), text)
        elif o >= 0x80:
            name = f"WSP-Header-0x{o & 0x7F:02X}"
            raw.append(RawHeader(name=name, code=o & 0x7F, value=bytes(hr.skip_value(name))))
        elif o >= 0x20:
            hr.pos = hstart
            name = hr.until_nul("WSP push header name").decode("latin-1")
            raw.append(RawHeader(name=name, value=bytes(hr.skip_value(name))))
        else:
            raise DecodeError(hstart, f"a WSP header field, got 0x{o:02X}")
    return WspPush(
        transaction_id=tid,
        pdu_type=WspPduType(ptype),
        content_type=ct,
        application_id=app_id,
        headers=tuple(raw),
        body=r.rest(),
    )


def _port_ie() -> bytes:
    return _PORT_IE + WAP_PUSH_PORT.to_bytes(2, "big") + WSP_SOURCE_PORT.to_bytes(2, "big")


def segment_push(push: bytes, *, reference: int) -> list[bytes]:
    """The TP-User-Data of each SMS (UDH included, at most 140 octets) that carries `push`.

    One SMS needs only the port IE (7 octets of UDH, 133 of payload); more add the 8-bit concatenation
    IE (12 octets of UDH, 128 of payload). `reference` (0..255) must differ between concurrent messages to
    the same phone.
    """
    if not 0 <= reference <= 0xFF:
        raise EncodeError(f"concatenation reference must be 0..255, got {reference}")
    ports = _port_ie()
    single = MAX_USER_DATA - 1 - len(ports)
    if len(push) <= single:
        return [bytes((len(ports),)) + ports + push]
    per_segment = MAX_USER_DATA - 1 - len(ports) - 5
    total = -(-len(push) // per_segment)
    if total > MAX_SEGMENTS:
        raise EncodeError(f"a push of {len(push)} octets needs {total} SMS, over {MAX_SEGMENTS}")
    out = []
    for seq in range(1, total + 1):
        concat = bytes((InformationElement.CONCAT_8BIT, 3, reference, total, seq))
        udh = ports + concat
        chunk = push[(seq - 1) * per_segment : seq * per_segment]
        out.append(bytes((len(udh),)) + udh + chunk)
    return out


def decode_user_data(ud: bytes | bytearray | memoryview) -> SmsSegment:
    """One SMS's TP-User-Data with a UDH (TP-UDHI set): its ports, concatenation info and payload."""
    r = Reader(ud)
    if r.remaining > MAX_USER_DATA:
        raise DecodeError(MAX_USER_DATA, f"at most {MAX_USER_DATA} octets of user data, got {r.remaining}")
    udh = r.sub(r.octet("UDH length"), "user data header")
    dst: int | None = None
    src: int | None = None
    ref: int | None = None
    total, seq = 1, 1
    while not udh.at_end():
        istart = udh.pos
        iei = udh.octet("UDH information element identifier")
        ie = udh.sub(udh.octet("UDH information element length"), "UDH information element")
        if iei == InformationElement.PORT_16BIT:
            if ie.remaining != 4:
                raise DecodeError(istart, "a 16-bit port IE of 4 octets")
            dst = int.from_bytes(ie.take(2, "destination port"), "big")
            src = int.from_bytes(ie.take(2, "source port"), "big")
        elif iei == InformationElement.PORT_8BIT:
            if ie.remaining != 2:
                raise DecodeError(istart, "an 8-bit port IE of 2 octets")
            dst, src = ie.octet("destination port"), ie.octet("source port")
        elif iei in (InformationElement.CONCAT_8BIT, InformationElement.CONCAT_16BIT):
            width = 1 if iei == InformationElement.CONCAT_8BIT else 2
            if ie.remaining != width + 2:
                raise DecodeError(istart, f"a concatenation IE of {width + 2} octets")
            ref = int.from_bytes(ie.take(width, "reference"), "big")
            total, seq = ie.octet("total"), ie.octet("sequence")
            if total == 0 or not 1 <= seq <= total:
                raise DecodeError(istart, f"concatenation sequence 1..total, got {seq} of {total}")
    return SmsSegment(destination_port=dst, source_port=src, reference=ref, total=total, sequence=seq, payload=r.rest())


def reassemble(user_data: Iterable[bytes | bytearray | memoryview]) -> bytes:
    """The push carried by the segments of one concatenated SMS, given in any order.

    Checks what a handset checks: every segment has the same ports, reference and total, and each sequence
    number from 1 to the total appears exactly once.
    """
    segments = [decode_user_data(ud) for ud in user_data]
    if not segments:
        raise DecodeError(0, "at least one SMS segment")
    first = segments[0]
    by_seq: dict[int, SmsSegment] = {}
    for i, seg in enumerate(segments):
        if (seg.reference, seg.total) != (first.reference, first.total):
            raise DecodeError(
                0,
                f"segment {i + 1}: reference {seg.reference} of {seg.total}, "
                f"but segment 1 has {first.reference} of {first.total}",
            )
        if (seg.destination_port, seg.source_port) != (first.destination_port, first.source_port):
            raise DecodeError(0, f"segment {i + 1}: ports differ from segment 1")
        if seg.sequence in by_seq:
            raise DecodeError(0, f"segment {i + 1}: sequence number {seg.sequence} twice")
        by_seq[seg.sequence] = seg
    if len(by_seq) != first.total:
        missing = sorted(set(range(1, first.total + 1)) - set(by_seq))
        raise DecodeError(0, f"all {first.total} segments, missing {missing}")
    return b"".join(bytes(by_seq[s].payload) for s in range(1, first.total + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Tpdu:
    """The parts of an SMS-DELIVER or SMS-SUBMIT TPDU (3GPP TS 23.040 9.2.2.1 / 9.2.2.2) a push needs."""

    kind: str
    data_coding: int
    udhi: bool
    user_data: bytes | memoryview


def decode_tpdu(data: bytes | bytearray | memoryview, *, smsc_prefix: bool = False) -> Tpdu:
    """An SMS-DELIVER or SMS-SUBMIT TPDU with 8-bit user data; `smsc_prefix` skips a leading SMSC address
    (the form modems print for AT+CMGR)."""
    r = Reader(data)
    if smsc_prefix:
        r.take(r.octet("SMSC address length"), "SMSC address")
    first = r.octet("TPDU first octet")
    mti = first & 0x03
    if mti == 0:
        kind = "SMS-DELIVER"
        digits = r.octet("TP-OA length")
        r.take(1 + (digits + 1) // 2, "TP-OA")
        r.octet("TP-PID")
        dcs = r.octet("TP-DCS")
        r.take(7, "TP-SCTS")
    elif mti == 1:
        kind = "SMS-SUBMIT"
        r.octet("TP-MR")
        digits = r.octet("TP-DA length")
        r.take(1 + (digits + 1) // 2, "TP-DA")
        r.octet("TP-PID")
        dcs = r.octet("TP-DCS")
        r.take({0: 0, 2: 1, 1: 7, 3: 7}[(first >> 3) & 0x03], "TP-VP")
    else:
        raise DecodeError(r.pos - 1, f"an SMS-DELIVER or SMS-SUBMIT TPDU, got TP-MTI {mti}")
    ustart = r.pos
    udl = r.octet("TP-UDL")
    if udl != r.remaining:
        raise DecodeError(ustart, f"TP-UDL {udl} equal to the {r.remaining} octets of user data that follow")
    return Tpdu(kind=kind, data_coding=dcs, udhi=bool(first & 0x40), user_data=r.rest())

"""What Wireshark's MMSE/WSP dissectors should show for a PDU, in tshark's own field names and formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from bridge.codec import mms
from bridge.codec.multipart import BodyPart

_MMSE_FIELDS = {
    "transaction_id": "mmse.transaction_id",
    "message_id": "mmse.message_id",
    "content_location": "mmse.content_location",
    "sender": "mmse.from",
    "to": "mmse.to",
    "cc": "mmse.cc",
    "bcc": "mmse.bcc",
    "subject": "mmse.subject",
    "response_text": "mmse.response_text",
    "retrieve_text": "mmse.retrieve_text",
    "message_size": "mmse.message_size",
    "status": "mmse.status",
    "response_status": "mmse.response_status",
    "retrieve_status": "mmse.retrieve_status",
    "read_status": "mmse.read_status",
    "priority": "mmse.priority",
    "delivery_report": "mmse.delivery_report",
    "read_report": "mmse.read_report",
    "report_allowed": "mmse.report_allowed",
    "sender_visibility": "mmse.sender_visibility",
    "date": "mmse.date",
}


def _tshark_date(d: datetime) -> str:
    d = d.astimezone(UTC)
    return f"{d:%b} {d.day:2d}, {d:%Y %H:%M:%S}.000000000 UTC"


def _printable(text: str) -> bool:
    return all(ch >= " " for ch in text) and "\x7f" not in text


def _shown_text(text: str) -> str | None:
    """Wireshark 4.0 shows header text as ASCII, each other octet as U+FFFD; control characters are not
    compared (PDML escapes them)."""
    if not _printable(text):
        return None
    return text.encode("utf-8").decode("ascii", "replace")


#: Wireshark 4.0 shows the Quote octet (0x7F) that WSP puts before text starting with an octet >= 128 as part
#: of the text (AOSP's PduParser skips it, as the spec says); PDML shows it like this

_SHOWN_QUOTE = "\\x7f"


def _show(attr: str, value: Any) -> str | None:
    if value is mms.INSERT_ADDRESS:
        return None
    if isinstance(value, IntEnum) or (attr.endswith("status") and isinstance(value, int)):
        return f"0x{int(value):02x}"
    if isinstance(value, datetime):
        return _tshark_date(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _shown_text(value)
    raise TypeError(attr)


def expected_fields(pdu: mms.Pdu) -> dict[str, list[str]]:
    """tshark field name -> the values it should show, for every header whose display we can predict."""
    out: dict[str, list[str]] = {
        "mmse.message_type": [f"0x{pdu.MESSAGE_TYPE:02x}"],
        "mmse.mms_version": [f"{pdu.mms_version >> 4}.{pdu.mms_version & 0x0F}"],
    }
    for attr, _ in pdu.HEADERS:
        value = getattr(pdu, attr)
        name = _MMSE_FIELDS.get(attr)
        if value is None or name is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        shown = [_show(attr, v) for v in values]
        if all(s is not None for s in shown) and shown:
            out[name] = [s for s in shown if s is not None]
    message_class = getattr(pdu, "message_class", None)
    if isinstance(message_class, mms.MessageClass):
        out["mmse.message_class.id"] = [f"0x{message_class:02x}"]
    elif isinstance(message_class, str):
        out["mmse.message_class.str"] = [message_class]
    for attr, field in (("expiry", "mmse.expiry"), ("delivery_time", "mmse.delivery_time")):
        value = getattr(pdu, attr, None)
        if isinstance(value, timedelta):
            out[f"{field}.rel"] = [f"{int(value.total_seconds())}.000000000"]
        elif isinstance(value, datetime):
            out[f"{field}.abs"] = [_tshark_date(value)]
    parts: tuple[BodyPart, ...] = getattr(pdu, "parts", ())
    if isinstance(pdu, mms.SendReq | mms.RetrieveConf):
        out["wsp.header.content_type"] = [pdu.content_type.media_type] + [p.content_type.media_type for p in parts]
        ids = [f'"{p.content_id}"' for p in parts if p.content_id is not None]
        if ids and all(_printable(i) for i in ids):
            out["wsp.header.content_id"] = ids
        locations = [p.content_location for p in parts if p.content_location is not None]
        if locations and all(_printable(x) and x.isascii() for x in locations):
            out["wsp.header.content_location"] = locations
    return out


def mismatches(pdu: mms.Pdu, fields: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str] | None]]:
    """Every predicted field that tshark showed differently: name -> (expected, shown)."""
    bad: dict[str, tuple[list[str], list[str] | None]] = {}
    for name, expected in expected_fields(pdu).items():
        shown = fields.get(name)
        if name == "wsp.header.content_type" and shown is not None:
            shown = [s.split(";")[0] for s in shown]
            expected = [e.lower() for e in expected]
            shown = [s.lower() for s in shown]
        elif shown is not None:
            shown = [s.removeprefix(_SHOWN_QUOTE) for s in shown]
        if shown != expected:
            bad[name] = (expected, shown)
    return bad

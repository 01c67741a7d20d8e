"""Readable descriptions of what the codec decodes: an MMS PDU (headers, parts, SMIL slides, text), a WSP push and
the SMS it came in — as plain dicts (JSON for machines) and as text. Pure: `bridge decode` prints them, and the
console can show the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from bridge.codec.mms import INSERT_ADDRESS, HeaderField, Pdu
from bridge.codec.multipart import RawHeader
from bridge.codec.smil import SMIL_MEDIA_TYPE, decode_smil
from bridge.codec.wap_push import WspPush
from bridge.codec.wsp import ContentType
from bridge.errors import DecodeError


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    pdu: Pdu | None
    push: WspPush | None
    segments: int
    size: int


def value_of(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return f"{value.name} (0x{int(value):02X})"
    if value is INSERT_ADDRESS:
        return "<insert-address-token>"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"+{int(value.total_seconds())}s (relative)"
    if isinstance(value, ContentType):
        return str(value)
    if isinstance(value, RawHeader):
        return value.value.hex(" ")
    if isinstance(value, tuple):
        return [value_of(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(str(value_of(v)) for v in value)
    if isinstance(value, StrEnum):
        return str(value)
    return value


def describe_pdu(pdu: Pdu) -> dict[str, Any]:
    headers: list[dict[str, Any]] = [{"name": "X-Mms-Message-Type", "value": value_of(pdu.MESSAGE_TYPE)}]
    for attr, field in pdu.HEADERS:
        value = getattr(pdu, attr)
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            headers.extend({"name": field.display_name, "value": value_of(v)} for v in value)
        else:
            shown = _version(value) if field is HeaderField.MMS_VERSION else value_of(value)
            headers.append({"name": field.display_name, "value": shown})
    for raw in pdu.extra_headers:
        headers.append({"name": raw.name, "value": "(raw) " + raw.value.hex(" ")})
    out: dict[str, Any] = {"type": pdu.MESSAGE_TYPE.name.lower().replace("_", "-"), "headers": headers}
    content_type = getattr(pdu, "content_type", None)
    if content_type is not None:
        headers.append({"name": HeaderField.CONTENT_TYPE.display_name, "value": str(content_type)})
        parts = []
        for part in pdu.parts:  # type: ignore[union-attr]
            item: dict[str, Any] = {
                "content_type": str(part.content_type),
                "size": len(part.data),
                "content_id": part.content_id,
                "content_location": part.content_location,
                "headers": [{"name": h.name, "value": h.value.hex(" ")} for h in part.headers],
            }
            if part.content_type.media_type.lower() == SMIL_MEDIA_TYPE:
                try:
                    item["slides"] = [
                        {k: v for k, v in vars_of(s).items() if v is not None} for s in decode_smil(part.data)
                    ]
                except DecodeError as exc:
                    item["smil_error"] = str(exc)
            elif part.content_type.media_type.lower().startswith("text/"):
                item["text"] = bytes(part.data[:200]).decode("utf-8", "replace")
            parts.append(item)
        out["parts"] = parts
    return out


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _version(value: int) -> str:
    return f"{value >> 4}.{value & 0x0F}"


def describe(decoded: Decoded) -> dict[str, Any]:
    out: dict[str, Any] = {"size": decoded.size}
    if decoded.segments:
        out["sms_segments"] = decoded.segments
    if decoded.push is not None:
        push = decoded.push
        out["push"] = {
            "transaction_id": push.transaction_id,
            "pdu_type": push.pdu_type.name.lower(),
            "content_type": str(push.content_type),
            "application_id": value_of(push.application_id),
            "headers": [{"name": h.name, "value": h.value.hex(" ")} for h in push.headers],
            "body_size": len(push.body),
        }
    if decoded.pdu is not None:
        out["pdu"] = describe_pdu(decoded.pdu)
    return out


def render_text(info: dict[str, Any]) -> str:
    lines = []
    if "sms_segments" in info:
        lines.append(f"WAP Push in {info['sms_segments']} SMS ({info['size']} octets reassembled)")
    push = info.get("push")
    if push:
        lines.append(
            f"WSP {push['pdu_type']} tid={push['transaction_id']} Content-Type: {push['content_type']} "
            f"X-Wap-Application-Id: {push['application_id']} ({push['body_size']} octets of body)"
        )
        lines.extend(f"  {h['name']}: {h['value']}" for h in push["headers"])
    pdu = info.get("pdu")
    if pdu:
        lines.append(f"{pdu['type']} ({info['size'] if not push else push['body_size']} octets)")
        width = max(len(h["name"]) for h in pdu["headers"])
        lines.extend(f"  {h['name']:<{width}}  {h['value']}" for h in pdu["headers"])
        for i, part in enumerate(pdu.get("parts", []), 1):
            lines.append(f"part {i}: {part['content_type']} ({part['size']} octets)")
            if part["content_id"] is not None:
                lines.append(f"  Content-ID: {part['content_id']}")
            if part["content_location"] is not None:
                lines.append(f"  Content-Location: {part['content_location']}")
            lines.extend(f"  {h['name']}: {h['value']}" for h in part["headers"])
            for n, slide in enumerate(part.get("slides", []), 1):
                media = ", ".join(f"{k}={v}" for k, v in slide.items() if k != "duration_ms")
                lines.append(f"  slide {n}: {slide['duration_ms']} ms {media}")
            if "text" in part:
                lines.append(f"  text: {part['text']!r}")
    return "\n".join(lines)

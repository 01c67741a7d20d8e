"""Read reports back to mail: RFC 8098 message disposition notifications, and a phone's reply as a mail.

`build_mdn`: `multipart/report; report-type=disposition-notification` with a human part and the
`message/disposition-notification` part (Reporting-UA, Final-Recipient, Original-Message-ID, Disposition
`automatic-action/MDN-sent-automatically; displayed|deleted`), then the original headers. Sent only when the
original mail asked for one (`Disposition-Notification-To`, `read_report_address`), to that address.

`reply_mail`: what a phone sent back through the operator's MMSC (an MM7 DeliverReq) as a plain MIME mail from
`<number>@<bridge domain>` — answering it reaches the phone through the bridge again.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid

from bridge.codec.smil import SMIL_MEDIA_TYPE, decode_smil, referenced_name
from bridge.convert.dsn import _field, _header_block
from bridge.errors import DecodeError

_DISPOSITIONS = {"read": "displayed", "deleted": "deleted"}


def read_report_address(raw: bytes) -> str | None:
    """The address the original mail asked disposition notifications to go to, or None."""
    headers = BytesHeaderParser().parsebytes(_header_block(raw))
    value = headers.get("Disposition-Notification-To")
    if not value:
        return None
    addresses = [addr for _, addr in getaddresses([str(value)]) if addr]
    return addresses[0] if addresses else None


def original_message_id(raw: bytes) -> str | None:
    value = BytesHeaderParser().parsebytes(_header_block(raw)).get("Message-ID")
    return str(value).strip() if value else None


def build_mdn(
    *,
    reporting_ua: str,
    to: str,
    final_recipient: str,
    status: str,
    original: bytes,
    subject: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """`status` is the MM7 MMStatus of the read reply ("Read", "Deleted", ...)."""
    now = now or datetime.now(UTC)
    disposition = _DISPOSITIONS.get(status.lower(), "deleted")
    boundary = "mdn-" + secrets.token_hex(12)
    verb = "was displayed on" if disposition == "displayed" else "was deleted unread on"
    lines = [
        f"From: MMS read reports <postmaster@{reporting_ua}>",
        f"To: <{to}>",
        "Subject: " + ("Read: " if disposition == "displayed" else "Not read: ") + _field(subject or "your MMS"),
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=reporting_ua)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=disposition-notification; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"The MMS you sent to {final_recipient} {verb} the phone (as its MMSC reports, {format_datetime(now)}).",
        "",
        f"--{boundary}",
        "Content-Type: message/disposition-notification",
        "",
        f"Reporting-UA: {reporting_ua}; mms-bridge",
        f"Final-Recipient: rfc822; {_field(final_recipient)}",
    ]
    message_id = original_message_id(original)
    if message_id:
        lines.append(f"Original-Message-ID: {_field(message_id)}")
    lines += [
        f"Disposition: automatic-action/MDN-sent-automatically; {disposition}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    head = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    return head + _header_block(original) + f"\r\n--{boundary}--\r\n".encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyPart:
    content_type: str
    data: bytes
    filename: str | None = None
    #: its Content-ID without angle brackets (what a SMIL `src="cid:…"` names)
    content_id: str | None = None


def in_slide_order(parts: Sequence[ReplyPart]) -> list[ReplyPart]:
    """An MMS's parts in the order its SMIL shows them (slide by slide: image or video, text, audio), by `cid:`
    or by name; parts the SMIL does not name follow in their own order. Without a readable SMIL: as they came."""
    smil = next((p for p in parts if p.content_type.split(";")[0].strip().lower() == SMIL_MEDIA_TYPE), None)
    if smil is None:
        return list(parts)
    try:
        slides = decode_smil(smil.data)
    except DecodeError:
        return list(parts)
    rest = [p for p in parts if p is not smil]
    ordered: list[ReplyPart] = []
    for slide in slides:
        for src in (slide.image, slide.video, slide.text, slide.audio):
            if not src:
                continue
            name = referenced_name(src)
            found = next((p for p in rest if name in (p.content_id, p.filename)), None)
            if found is not None and found not in ordered:
                ordered.append(found)
    return [*ordered, *(p for p in rest if p not in ordered)]


def reply_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    parts: Sequence[ReplyPart],
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> bytes:
    """The phone's message (`sender` is `<number>@<bridge domain>`) as a mail to `to`; text parts become the
    body, the rest attachments in their order, SMIL left out (a mail client shows the parts, not the slide show).
    `in_reply_to` and `references` thread it under the mails it answers (RFC 5322 3.6.4)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject or "MMS"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = " ".join([*(r for r in references if r != in_reply_to), in_reply_to])
    texts = [p for p in parts if p.content_type.startswith("text/plain")]
    mail.set_content("\n\n".join(p.data.decode("utf-8", "replace") for p in texts) or "(no text)")
    for n, p in enumerate(parts, 1):
        if p in texts or p.content_type == "application/smil":
            continue
        maintype, _, subtype = p.content_type.partition("/")
        mail.add_attachment(
            p.data, maintype=maintype, subtype=subtype or "octet-stream", filename=p.filename or f"part{n}"
        )
    return mail.as_bytes(policy=SMTP)

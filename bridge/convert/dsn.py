"""Delivery status notifications to the sender: RFC 3464 `multipart/report; report-type=delivery-status`.

Owns the composition of the report mail: a short human explanation, the `message/delivery-status` part
(Reporting-MTA, Original-Envelope-Id, Arrival-Date; per recipient Original-Recipient, Final-Recipient, Action,
Status, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until), then the original headers
(`text/rfc822-headers`) or, with RET=FULL, the whole mail (`message/rfc822`). The report carries
`Auto-Submitted: auto-replied` (RFC 3834) and is sent with the null envelope sender `<>` by the caller.
Whether a report may be sent at all (never to `<>`, never about a report or an auto-reply) is `may_report`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid

from bridge.model import Report

_TITLES = {
    Report.FAILED: "Undelivered MMS",
    Report.DELAYED: "Delayed MMS",
    Report.DELIVERED: "Delivered MMS",
    Report.RELAYED: "MMS relayed as SMS with a link",
}
_EXPLANATIONS = {
    Report.FAILED: "Your message could not be delivered as an MMS to the recipient(s) below. "
    "This is a permanent error; it will not be tried again.",
    Report.DELAYED: "Your message has not been delivered as an MMS yet. The gateway keeps trying until the "
    "time given below; you need not send it again.",
    Report.DELIVERED: "Your message was delivered as an MMS to the recipient(s) below.",
    Report.RELAYED: "Your message could not go as an MMS to the recipient(s) below. It was sent on as a plain SMS "
    "with a link to a web page that shows it; whether the phone received that SMS is not known.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientStatus:
    rcpt_to: str
    status: str
    diagnostic: str
    original_recipient: str | None = None
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None


def may_report(*, mail_from: str, auto_submitted: bool, is_report: bool) -> bool:
    """RFC 3461/3834: no report to the null sender, nor about a report or an automatic message."""
    return bool(mail_from) and mail_from != "<>" and not auto_submitted and not is_report


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return (raw if end < 0 else raw[:end]).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"


def _field(value: str) -> str:
    # field values must stay on one line and in ASCII (RFC 3464 2.1.1); anything else is shown escaped
    return value.replace("\r", " ").replace("\n", " ").encode("ascii", "backslashreplace").decode("ascii")


def build_dsn(
    *,
    report: Report,
    reporting_mta: str,
    to: str,
    recipients: list[RecipientStatus],
    original: bytes,
    arrival: datetime,
    envid: str | None = None,
    ret_full: bool = False,
    subject: str | None = None,
    now: datetime | None = None,
    changes: tuple[str, ...] = (),
) -> bytes:
    """The report mail as bytes with CRLF line ends, ready for SMTP. `changes`: what the conversion left out or
    cut, said in the human-readable part."""
    now = now or datetime.now(UTC)
    boundary = "dsn-" + secrets.token_hex(12)
    action = report.value
    title = _TITLES[report]
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{to}>",
        f"Subject: {title}" + (f": {_field(subject)}" if subject else ""),
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-formatted delivery status notification (RFC 3464).",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        _EXPLANATIONS[report],
        "",
    ]
    for r in recipients:
        lines.append(f"  {r.rcpt_to}: {r.diagnostic} ({r.status})")
        if r.will_retry_until is not None:
            lines.append(f"    still trying until {format_datetime(r.will_retry_until)}")
    if changes:
        lines += ["", "The MMS was made without some of your message's content:"]
        lines += [f"  - {_line(c)}" for c in changes]
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
    ]
    if envid:
        lines.append(f"Original-Envelope-Id: {_field(envid)}")
    lines.append(f"Arrival-Date: {format_datetime(arrival)}")
    for r in recipients:
        lines.append("")
        if r.original_recipient:
            lines.append(f"Original-Recipient: {_field(r.original_recipient)}")
        lines += [
            f"Final-Recipient: rfc822; {_field(r.rcpt_to)}",
            f"Action: {action}",
            f"Status: {r.status}",
            f"Diagnostic-Code: X-MMS; {_field(r.diagnostic)}",
        ]
        if r.last_attempt is not None:
            lines.append(f"Last-Attempt-Date: {format_datetime(r.last_attempt)}")
        if r.will_retry_until is not None:
            lines.append(f"Will-Retry-Until: {format_datetime(r.will_retry_until)}")
    lines += ["", f"--{boundary}"]
    text = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    if ret_full:
        body = b"Content-Type: message/rfc822\r\n\r\n" + original.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        body = b"Content-Type: text/rfc822-headers\r\n\r\n" + _header_block(original)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return text + body + f"--{boundary}--\r\n".encode()


def _line(value: str) -> str:
    return " ".join(value.split())


def build_change_notice(
    *,
    reporting_mta: str,
    to: str,
    recipients: list[str],
    changes: tuple[str, ...],
    original_message_id: str | None,
    subject: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The short notice that tells a sender what of their mail did not go into the MMS (it went without it):
    an automatic reply (RFC 3834), threaded under the original."""
    now = now or datetime.now(UTC)
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{to}>",
        "Subject: Sent without some content" + (f": {_field(subject)}" if subject else ""),
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if original_message_id:
        lines += [f"In-Reply-To: {_field(original_message_id)}", f"References: {_field(original_message_id)}"]
    lines += [
        "",
        f"Your message to {', '.join(_line(r) for r in recipients)} is on its way as an MMS, without some of its",
        "content, which phones cannot receive or which did not fit:",
        "",
        *(f"  - {_line(c)}" for c in changes),
        "",
        "Nothing needs to be done; this is an automatic notice.",
    ]
    return "\r\n".join(lines).encode("utf-8") + b"\r\n"


def is_report(raw: bytes) -> bool:
    """Whether a received mail is itself a delivery or disposition report (never answered with one)."""
    head = _header_block(raw).lower()
    return b"multipart/report" in head or b"message/delivery-status" in head

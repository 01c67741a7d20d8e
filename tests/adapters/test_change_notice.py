"""The sender learns what was left out (issue 12, part 2): a mail whose MMS went without some of its content gets
one short automatic notice (`reports.notify_changes`), or, when a DSN is sent anyway, the DSN says it; never a
notice to the null sender or to an automatic mail, and none when nothing was left out."""

from __future__ import annotations

import asyncio
import dataclasses
import email
from email.message import EmailMessage, Message
from pathlib import Path

from bridge.config import ReportsConfig
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, running
from tests.hostile.smtp_wire import send_mail


def pdf_mail(*, auto: bool = False, sender: str = "reports@example.org") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"12015554567@{DOMAIN}"
    msg["Subject"] = "Monthly report"
    msg["Message-ID"] = "<report-2026-11@example.org>"
    if auto:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("The report is attached.")
    msg.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf", filename="report.pdf")
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def outbox(tmp: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]


def send(port: int, raw: bytes, *, sender: str, notify: str = "") -> bytes:
    return send_mail(port, raw, sender=sender, rcpt_params=notify)


def run(tmp: Path, body: object, **reports: object) -> None:
    config = bridge_config(tmp)
    config = dataclasses.replace(config, reports=ReportsConfig(outbox=str(tmp / "outbox"), **reports))  # type: ignore[arg-type]

    async def go() -> None:
        async with running(config) as bridge:
            await body(bridge, bridge.port)  # type: ignore[operator]

    asyncio.run(go())


async def delivered(bridge: object) -> None:
    for _ in range(200):
        jobs = await bridge.store.list()  # type: ignore[attr-defined]
        if jobs and all(j.state is JobState.DELIVERED for j in jobs):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not delivered")


def test_a_pdf_left_out_is_told_to_the_sender_once(tmp_path: Path) -> None:
    async def body(bridge: object, port: int) -> None:
        reply = await asyncio.to_thread(send, port, pdf_mail(), sender="reports@example.org")
        assert reply.startswith(b"250"), reply
        await delivered(bridge)
        await asyncio.sleep(0.2)
        [notice] = outbox(tmp_path)
        assert notice["Auto-Submitted"] == "auto-replied" and notice["In-Reply-To"] == "<report-2026-11@example.org>"
        assert notice["Subject"] == "Sent without some content: Monthly report"
        text = notice.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "report.pdf" in text and f"12015554567@{DOMAIN}" in text

    run(tmp_path, body)


def test_no_notice_to_an_automatic_mail_the_null_sender_or_when_turned_off(tmp_path: Path) -> None:
    async def body(bridge: object, port: int) -> None:
        for raw, sender in ((pdf_mail(auto=True), "cron@example.org"), (pdf_mail(sender="x@example.org"), "")):
            assert (await asyncio.to_thread(send, port, raw, sender=sender)).startswith(b"250")
        await delivered(bridge)
        await asyncio.sleep(0.2)
        assert outbox(tmp_path) == []

    run(tmp_path, body)

    async def off(bridge: object, port: int) -> None:
        assert (await asyncio.to_thread(send, port, pdf_mail(), sender="a@example.org")).startswith(b"250")
        await delivered(bridge)
        await asyncio.sleep(0.2)
        assert outbox(tmp_path / "off") == []

    run(tmp_path / "off", off, notify_changes=False)


def test_when_a_dsn_goes_anyway_it_says_what_was_left_out(tmp_path: Path) -> None:
    async def body(bridge: object, port: int) -> None:
        reply = await asyncio.to_thread(send, port, pdf_mail(), sender="reports@example.org", notify=" NOTIFY=SUCCESS")
        assert reply.startswith(b"250"), reply
        await delivered(bridge)
        await asyncio.sleep(0.2)
        [dsn] = outbox(tmp_path)  # one mail: the DSN, no separate notice
        assert dsn.get_content_type() == "multipart/report"
        human = dsn.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index,union-attr]
        assert "without some of your message's content" in human and "report.pdf" in human

    run(tmp_path, body)

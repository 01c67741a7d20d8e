"""Phones' replies become mail (issue 17, part 1), through real peers: Kannel with its fake SMSC injecting the
phone's SMS (plain, UCS-2, concatenated) to the bridge's /sms/mo; an SMPP SMSC (smpp34) sending deliver_sm; an
MMSC's MM7 DeliverReq with a picture. The mail is threaded under the sender's mail and replying to it reaches the
phone again; numbers without a conversation, bounces, auto-replies and floods do not get through."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import logging
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path
from urllib.parse import quote_from_bytes

import aiosmtplib
import httpx
import pytest
import smpp34

from bridge.app import Bridge
from bridge.codec import mm7
from bridge.config import Config, RepliesConfig
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, builtin_config, running, sms_config
from tests.adapters.kannel import PASSWORD, USER, Kannel
from tests.adapters.mmsc_peer import NS, Peer, submit_rsp
from tests.adapters.smsc import free_port, smsc
from tests.adapters.test_mmsc import job_in, wait_for
from tests.adapters.test_routes import _deliver_req, mm7_route
from tests.convert.helpers import mail, photo

SENDER = "alerts@example.org"
PHONE = "12015554567"
MO_KEY = "mo-key-of-the-test"


async def mail_to_phone(port: int, *, sender: str = SENDER, message_id: str = "<alert-1@example.org>",
                        subject: str = "Door", headers: dict[str, str] | None = None) -> str:  # fmt: skip
    raw = mail("Someone at the door", subject=subject, headers=headers)
    raw = raw.replace(b"<snap-1@example.org>", message_id.encode())
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo(hostname="client.test")
    await c.mail(sender)
    await c.rcpt(f"{PHONE}@{DOMAIN}")
    code, reply = await c.data(raw)
    await c.quit()
    assert code == 250, reply
    return reply.split()[-1] + "-0"


def replies_in(tmp: Path) -> list[Message]:
    """The mails in the outbox that are phones' replies (From <number>@<domain>)."""
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]
    return [m for m in found if str(m.get("From", "")).endswith(f"@{DOMAIN}")]


def body_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    await wait_for(lambda: asyncio.sleep(0, result=predicate()), timeout)


# ------------------------------------------------------------------------------------------------------ Kannel


def test_kannel_replies_become_threaded_mails_and_the_answer_reaches_the_phone(tmp_path: Path) -> None:
    port = free_port()
    kannel = Kannel(
        folder=tmp_path / "kannel",
        mo_url=f"http://127.0.0.1:{port}/sms/mo?key={MO_KEY}&from=%p&to=%P&coding=%c&charset=%C&text=%b",
    )
    kannel.start()
    sms = sms_config("kannel", sendsms_url=kannel.sendsms_url, username=USER, password=PASSWORD, mo_key=MO_KEY)
    config = builtin_config(tmp_path, sms=sms, port=port)

    async def go() -> None:
        async with running(config) as bridge:
            assert bridge.port is not None
            first = await mail_to_phone(bridge.port)
            await job_in(bridge, first, JobState.NOTIFIED)
            pushes = len(kannel.captured())

            kannel.inject(f"{PHONE} 12345 text On my way")
            await until(lambda: len(replies_in(tmp_path)) == 1)
            [reply] = replies_in(tmp_path)
            assert reply["From"] == f"{PHONE}@{DOMAIN}" and reply["To"] == SENDER
            assert reply["In-Reply-To"] == "<alert-1@example.org>" and "<alert-1@example.org>" in reply["References"]
            assert reply["Subject"] == "Re: Door" and body_of(reply).strip() == "On my way"

            # UCS-2, as the phone sent it
            text = "Ça va — 日本 👍"
            kannel.inject(f"{PHONE} 12345 ucs2 {quote_from_bytes(text.encode('utf-16-be'))}")
            await until(lambda: len(replies_in(tmp_path)) == 2)
            assert body_of(replies_in(tmp_path)[1]).strip() == text

            # two segments of one message, joined by bearerbox
            kannel.inject(f"{PHONE} 12345 udh %05%00%03%2a%02%01 The%20gate%20is%20")
            kannel.inject(f"{PHONE} 12345 udh %05%00%03%2a%02%02 open%20now.")
            await until(lambda: len(replies_in(tmp_path)) == 3)
            assert body_of(replies_in(tmp_path)[2]).strip() == "The gate is open now."

            # the sender answers the reply: it reaches the phone as a new MMS notification
            again = await mail_to_phone(bridge.port, message_id="<alert-2@example.org>",
                                        headers={"In-Reply-To": reply["Message-ID"]})  # fmt: skip
            await job_in(bridge, again, JobState.NOTIFIED)
            await until(lambda: len(kannel.captured()) > pushes)
            assert {c.to for c in kannel.captured()[pushes:]} == {f"+{PHONE}"}

            # the endpoint wants its key
            async with httpx.AsyncClient() as http:
                base = f"http://127.0.0.1:{bridge.http_port}/sms/mo"
                assert (await http.get(base, params={"from": PHONE, "text": "x"})).status_code == 403
                r = await http.get(base, params={"key": MO_KEY, "from": "not a number", "text": "x"})
                assert r.status_code == 400
            assert len(replies_in(tmp_path)) == 3

    try:
        asyncio.run(go())
    finally:
        kannel.stop()


# -------------------------------------------------------------------------------------------------------- SMPP


def smpp_config(tmp: Path, port: int, **replies: object) -> Config:
    sms = sms_config("smpp", host="127.0.0.1", port=port, system_id="bridge", password="pw")
    return dataclasses.replace(builtin_config(tmp, sms=sms), replies=RepliesConfig(**replies))  # type: ignore[arg-type]


def run_smpp(tmp: Path, body: Callable[[Bridge, smpp34.Esme], Awaitable[None]], **replies: object) -> None:
    async def go() -> None:
        async with smsc() as sim, running(smpp_config(tmp, sim.port, **replies)) as bridge:
            await until(lambda: bool(sim.sessions))
            [session] = sim.sessions.values()
            await body(bridge, session)

    asyncio.run(go())


def test_smpp_deliver_sm_replies_plain_ucs2_and_concatenated(tmp_path: Path) -> None:
    async def body(bridge: Bridge, smsc_session: smpp34.Esme) -> None:
        assert bridge.port is not None
        await mail_to_phone(bridge.port)
        await smsc_session.deliver_sm("12345", b"ACK", source_addr=PHONE, data_coding=0)
        await until(lambda: len(replies_in(tmp_path)) == 1)
        # UCS-2 (data_coding 8)
        await smsc_session.deliver_sm("12345", "Привет €".encode("utf-16-be"), source_addr=PHONE, data_coding=8)
        # GSM 7-bit with an escape (€ is ESC 0x65) in two segments by UDH, the escape pair whole in the second
        first, second = b"\x05\x00\x03\x09\x02\x01" + b"Costs ", b"\x05\x00\x03\x09\x02\x02" + b"5\x1b\x65 ok"
        await smsc_session.deliver_sm("12345", first, source_addr=PHONE, esm_class=0x40)
        await smsc_session.deliver_sm("12345", second, source_addr=PHONE, esm_class=0x40)
        # UCS-2 by sar TLVs, a character split across the segments
        data = "Ünïcødé ✓".encode("utf-16-be")
        for n, piece in enumerate((data[:7], data[7:]), 1):
            await smsc_session.deliver_sm("12345", piece, source_addr=PHONE, data_coding=8, tlvs=[
                smpp34.Tlv(smpp34.TLV_SAR_MSG_REF_NUM, b"\x01\x02"),
                smpp34.Tlv(smpp34.TLV_SAR_TOTAL_SEGMENTS, b"\x02"),
                smpp34.Tlv(smpp34.TLV_SAR_SEGMENT_SEQNUM, bytes([n]))])  # fmt: skip
        await until(lambda: len(replies_in(tmp_path)) == 4)
        bodies = [body_of(m).strip() for m in replies_in(tmp_path)]
        assert bodies == ["ACK", "Привет €", "Costs 5€ ok", "Ünïcødé ✓"]
        assert all(m["To"] == SENDER and m["In-Reply-To"] == "<alert-1@example.org>" for m in replies_in(tmp_path))

    run_smpp(tmp_path, body)


def test_a_number_without_a_conversation_goes_to_forward_to_or_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def refused(bridge: Bridge, session: smpp34.Esme) -> None:
        await session.deliver_sm("12345", b"who is this?", source_addr="12025550199")
        await until(lambda: any("no-conversation" in r.getMessage() for r in caplog.records))
        assert replies_in(tmp_path) == []
        line = next(r.getMessage() for r in caplog.records if "no-conversation" in r.getMessage())
        assert "12025550199" not in line and "0199" in line  # masked

    caplog.set_level(logging.INFO, logger="bridge.replies")
    run_smpp(tmp_path, refused)

    async def forwarded(bridge: Bridge, session: smpp34.Esme) -> None:
        await session.deliver_sm("12345", b"who is this?", source_addr="12025550199")
        await until(lambda: len(replies_in(tmp_path)) == 1)
        [m] = replies_in(tmp_path)
        assert m["To"] == "ops@example.org" and m["From"] == f"12025550199@{DOMAIN}" and m["In-Reply-To"] is None

    run_smpp(tmp_path, forwarded, forward_to="ops@example.org")


def test_bounces_and_auto_replies_start_no_conversation_and_floods_are_cut(tmp_path: Path) -> None:
    async def body(bridge: Bridge, session: smpp34.Esme) -> None:
        assert bridge.port is not None
        await mail_to_phone(bridge.port, sender="")  # a bounce to the number
        await mail_to_phone(bridge.port, sender="robot@example.org", headers={"Auto-Submitted": "auto-replied"})
        await session.deliver_sm("12345", b"STOP", source_addr=PHONE)
        await asyncio.sleep(1.0)
        assert replies_in(tmp_path) == []  # neither the mailer daemon nor the robot hears from the phone
        await mail_to_phone(bridge.port)
        for n in range(4):
            await session.deliver_sm("12345", f"reply {n}".encode(), source_addr=PHONE)
        await until(lambda: len(replies_in(tmp_path)) == 2)
        await asyncio.sleep(0.5)
        assert [body_of(m).strip() for m in replies_in(tmp_path)] == ["reply 0", "reply 1"]

    run_smpp(tmp_path, body, max_per_hour=2)


def test_an_unreadable_deliver_sm_is_refused_for_good_and_a_relay_failure_asks_again(tmp_path: Path) -> None:
    async def body(bridge: Bridge, session: smpp34.Esme) -> None:
        assert bridge.port is not None
        await mail_to_phone(bridge.port)
        # UCS-2 of an odd length: ESME_RX_P_APPN (0x65), the SMSC should not offer it again
        answer = await session.deliver_sm("12345", b"\x00a\x00", source_addr=PHONE, data_coding=8)
        assert answer.command_status == 0x65
        # the reports' outbox cannot be written (a file stands where its folder should; root ignores modes): the
        # reply cannot be handed on, ESME_RX_T_APPN (0x64) asks the SMSC to offer it again
        outbox = tmp_path / "outbox"
        outbox.write_bytes(b"in the way")
        try:
            answer = await session.deliver_sm("12345", b"later", source_addr=PHONE)
            assert answer.command_status == 0x64
        finally:
            outbox.unlink()
        answer = await session.deliver_sm("12345", b"later", source_addr=PHONE)
        assert answer.is_success
        await until(lambda: len(replies_in(tmp_path)) == 1)
        assert body_of(replies_in(tmp_path)[0]).strip() == "later"

    run_smpp(tmp_path, body)


# --------------------------------------------------------------------------------------------------------- MM7


def test_an_mm7_deliver_req_with_a_picture_becomes_a_mail_with_it_attached_in_smil_order(tmp_path: Path) -> None:
    peer = Peer(script=[submit_rsp(1000, "mmsc-9")])
    picture = photo(320, 240)
    smil = (b'<smil><body><par><img src="cid:pic"/><text src="cid:txt"/></par>'
            b'<par><audio src="cid:snd"/></par></body></smil>')  # fmt: skip

    async def go() -> None:
        await peer.start()
        try:
            async with running(dataclasses.replace(builtin_config(tmp_path), routes=(mm7_route(peer),))) as bridge:
                assert bridge.port is not None
                job_id = await mail_to_phone(bridge.port)
                await job_in(bridge, job_id, JobState.NOTIFIED)
                boundary = "phone-mms"
                deliver = mm7.envelope("cb-9", NS, _deliver_req(linked="mmsc-9", sender=f"+{PHONE}", subject="Look",
                                                                 href="cid:mms"))  # fmt: skip
                parts = [("text/xml", "soap", deliver), ("audio/amr", "snd", b"#!AMR\n" + b"\x00" * 40),
                         ("text/plain; charset=utf-8", "txt", b"Here it is"), ("image/jpeg", "pic", picture),
                         ("application/smil", "smil", smil)]  # fmt: skip
                body = (
                    b"".join(
                        f"--{boundary}\r\nContent-Type: {ct}\r\nContent-ID: <{cid}>\r\n\r\n".encode() + data + b"\r\n"
                        for ct, cid, data in parts
                    )
                    + f"--{boundary}--\r\n".encode()
                )
                ct = f'multipart/related; boundary="{boundary}"; type="text/xml"; start="<soap>"'
                auth = {"Authorization": "Basic " + base64.b64encode(b"mmsc:cbpw").decode(), "Content-Type": ct}
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
                    r = await http.post("/mm7/op", content=body, headers=auth)
                assert r.status_code == 200 and mm7.decode(r.content, "text/xml").operation == "DeliverRsp"
        finally:
            await peer.stop()

    asyncio.run(go())
    [reply] = replies_in(tmp_path)
    assert reply["To"] == SENDER and reply["In-Reply-To"] == "<alert-1@example.org>" and reply["Subject"] == "Look"
    assert body_of(reply).strip() == "Here it is"
    attached = [(p.get_content_type(), p.get_payload(decode=True)) for p in reply.walk() if p.get_filename()]
    assert [t for t, _ in attached] == ["image/jpeg", "audio/amr"]  # the SMIL's order, not the MIME order
    assert attached[0][1] == picture


def test_hostile_requests_to_sms_mo_get_a_precise_answer_and_inject_nothing(tmp_path: Path) -> None:
    sms = sms_config("kannel", sendsms_url="http://127.0.0.1:9/cgi-bin/sendsms", mo_key=MO_KEY)
    config = dataclasses.replace(builtin_config(tmp_path, sms=sms), replies=RepliesConfig(forward_to="ops@example.org"))

    async def body(bridge: Bridge) -> None:
        base = f"http://127.0.0.1:{bridge.http_port}/sms/mo?key={MO_KEY}"
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{base}&from={PHONE}&text=%00line%0D%0ABcc:%20x@evil.example%0D%0A%0D%0Abody")
            assert r.status_code == 200
            for query in ("&from=1201%0D%0A5554567&text=x", "&from=&text=x", "&text=x", "&from=%ZZ&text=x"):
                assert (await http.get(base + query)).status_code == 400, query
            assert (await http.get(f"{base}&from={PHONE}&coding=2&charset=UTF-16BE&text=%00")).status_code == 200
            assert (await http.get(f"{base}&from={PHONE}&text=%ZZ%")).status_code == 200
            huge = await http.get(f"{base}&from={PHONE}&text={'x' * 20_000}")
            assert huge.status_code in (400, 414, 431)
            wrong_key = await http.get(f"http://127.0.0.1:{bridge.http_port}/sms/mo?key=&from={PHONE}&text=x")
            assert wrong_key.status_code == 403
        await until(lambda: len(replies_in(tmp_path)) == 3)
        first = replies_in(tmp_path)[0]
        assert first["To"] == "ops@example.org" and first["Bcc"] is None
        assert "Bcc: x@evil.example" in body_of(first)  # the phone's words stay in the body

    async def go() -> None:
        async with running(config) as bridge:
            await body(bridge)

    asyncio.run(go())

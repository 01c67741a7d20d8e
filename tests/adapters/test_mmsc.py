"""The builtin MMSC end to end over the SMS outbox: a mail in over SMTP (aiosmtplib), the WAP Push out (checked
by tshark), `Phone` fetching over HTTP and answering; the job's state and the sender's DSNs after each answer.
Also the web side on its own with httpx: Range, HEAD, 404 after expiry, forged and truncated answers."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import secrets
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from bridge.app import Bridge
from bridge.codec.mms import NotifyRespInd, RetrieveConf, Status, YesNo, decode_pdu, encode_pdu
from bridge.config import Config, DeliveryConfig
from bridge.model import Handset, Job, JobState
from bridge.phone import Answer, Phone, PhoneError
from tests.adapters.bridge_fixture import DOMAIN, both_stores, builtin_config, running
from tests.convert.helpers import mail, photo
from tests.oracle import dissect_push_segments

# every test here runs on SQLite and on PostgreSQL: the store is what the phone's answers change
pytestmark = pytest.mark.usefixtures(both_stores.__name__)
SENDER = "camera@example.org"
NUMBER = "+12015554567"
MMS = "application/vnd.wap.mms-message"


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def send(port: int, *, notify: str | None = None, subject: str = "Motion at the door") -> str:
    raw = mail("Someone at the door", subject=subject, attachments=[(photo(800, 600), "image/jpeg", "door.jpg")])
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo(hostname="client.test")
    await c.mail(SENDER)
    await c.rcpt(f"12015554567@{DOMAIN}", options=[f"NOTIFY={notify}"] if notify else [])
    code, message = await c.data(raw)
    await c.quit()
    assert code == 250, message
    return message.split()[-1] + "-0"


async def job_in(bridge: Bridge, job_id: str, *states: JobState) -> Job:
    async def reached() -> bool:
        job = await bridge.store.get(job_id)
        return job is not None and job.state in states

    await wait_for(reached)
    job = await bridge.store.get(job_id)
    assert job is not None
    return job


def segments(tmp: Path) -> list[Path]:
    return sorted((tmp / "sms").glob("*.ud"))


def reports(tmp: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]


def action_of(report: Message) -> list[str]:
    found = []
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload():
                assert isinstance(block, Message)
                if block.get("Action"):
                    found.append(f"{block['Action']} {block['Status']}")
    return found


def run(config: Config, body: Callable[[Bridge], Awaitable[None]]) -> None:
    async def go() -> None:
        async with running(config) as bridge:
            await body(bridge)

    asyncio.run(go())


def phone(tmp: Path, answer: Answer = Answer.RETRIEVE) -> Phone:
    return Phone(outbox=tmp / "sms", inbox=tmp / "phone", answer=answer)


def test_mail_to_phone_delivered_with_the_dsn_the_sender_asked_for(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port, notify="SUCCESS,FAILURE", subject="Door")
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        assert job.last_status == "4.0.0" and job.handset is None
        # the push as Wireshark reads it: one SMS, WSP push to the MMS user agent, the six mandatory headers
        [ud] = segments(tmp_path)
        seen = dissect_push_segments([ud.read_bytes()])
        assert not seen.problems, seen.problems
        location = seen.first("mmse.content_location")
        assert location == f"http://127.0.0.1:{bridge.http_port}/m/{job.token}" and len(job.token) == 22
        assert seen.first("mmse.transaction_id") == job.token and seen.first("mmse.from") == SENDER
        assert seen.first("mmse.subject") == "Door"
        for name in ("mmse.message_class.id", "mmse.message_size", "mmse.expiry.rel", "mmse.mms_version"):
            assert seen.first(name) is not None, name
        [received] = await asyncio.to_thread(phone(tmp_path).poll)
        assert received.message is not None and received.folder is not None
        assert received.message.subject == "Door"
        assert received.message.to == (f"{NUMBER}/TYPE=PLMN",) and received.message.sender == SENDER
        saved = sorted(p.name for p in received.folder.iterdir())
        assert "message.mms" in saved and "summary.txt" in saved and any(n.endswith(".jpg") for n in saved)
        assert "smil.xml" in saved and (received.folder / "smil.xml").read_bytes().startswith(b"<smil")
        assert (tmp_path / "sms" / "done" / ud.name).exists() and not segments(tmp_path)
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert job.handset is Handset.ACKNOWLEDGED and job.last_status == "2.0.0"
        await wait_for(lambda: asyncio.sleep(0, result=len(reports(tmp_path)) == 1))
        [dsn] = reports(tmp_path)
        assert action_of(dsn) == ["delivered 2.0.0"] and dsn["To"] == f"<{SENDER}>"

    run(builtin_config(tmp_path), body)


def test_deferred_retrieval_fetch_then_acknowledge(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        await job_in(bridge, job_id, JobState.NOTIFIED)
        [received] = await asyncio.to_thread(phone(tmp_path, Answer.ACKNOWLEDGE).poll)
        assert isinstance(received.message, RetrieveConf)
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert job.handset is Handset.ACKNOWLEDGED
        assert reports(tmp_path) == []  # NOTIFY defaults to FAILURE,DELAY: no "delivered" report

    run(builtin_config(tmp_path), body)


def test_a_fetch_without_an_answer_counts_as_delivered_after_ack_wait(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        await job_in(bridge, job_id, JobState.NOTIFIED)
        await asyncio.to_thread(phone(tmp_path, Answer.SILENT).poll)
        job = await job_in(bridge, job_id, JobState.RETRIEVED, JobState.DELIVERED)
        assert job.handset is Handset.FETCHED
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert job.handset is Handset.FETCHED

    run(builtin_config(tmp_path, ack_wait_s=0.5), body)


def test_a_rejection_fails_the_job_with_a_dsn(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        await job_in(bridge, job_id, JobState.NOTIFIED)
        [received] = await asyncio.to_thread(phone(tmp_path, Answer.REJECT).poll)
        assert received.message is None
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.handset is Handset.REJECTED and job.last_status == "5.7.1"
        await wait_for(lambda: asyncio.sleep(0, result=len(reports(tmp_path)) == 1))
        assert action_of(reports(tmp_path)[0]) == ["failed 5.7.1"]

    run(builtin_config(tmp_path), body)


def test_report_allowed_no_suppresses_the_delivered_dsn(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port, notify="SUCCESS")
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            answer = NotifyRespInd(transaction_id=job.token, status=Status.RETRIEVED, report_allowed=YesNo.NO)
            r = await http.post("/m", content=encode_pdu(answer), headers={"Content-Type": MMS})
            assert r.status_code == 200
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert not job.report_allowed
        await asyncio.sleep(0.3)
        assert reports(tmp_path) == []

    run(builtin_config(tmp_path), body)


def test_the_phone_is_notified_again_on_schedule_with_the_same_url(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        await wait_for(lambda: asyncio.sleep(0, result=len(segments(tmp_path)) >= 3))
        job = await bridge.store.get(job_id)
        assert job is not None and job.attempts >= 2
        pushes = [dissect_push_segments([p.read_bytes()]) for p in segments(tmp_path)[:3]]
        assert {p.first("mmse.content_location") for p in pushes} == {pushes[0].first("mmse.content_location")}
        assert all(not p.problems for p in pushes)

    run(builtin_config(tmp_path, renotify_s=(0.3,)), body)


def test_expiry_without_a_fetch_gives_a_dsn_and_the_url_404(tmp_path: Path) -> None:
    config = builtin_config(tmp_path)
    config = dataclasses.replace(config, delivery=dataclasses.replace(config.delivery, expiry_s=1.0))

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            assert (await http.head(f"/m/{job.token}")).status_code == 200
            job = await job_in(bridge, job_id, JobState.EXPIRED)
            assert job.last_status == "4.4.7"
            assert (await http.get(f"/m/{job.token}")).status_code == 404
        await wait_for(lambda: asyncio.sleep(0, result=len(reports(tmp_path)) == 1))
        assert action_of(reports(tmp_path)[0]) == ["failed 4.4.7"]
        # the phone, given the stale notification, cannot fetch it either
        with pytest.raises(PhoneError, match="HTTP 404"):
            await asyncio.to_thread(Phone(outbox=tmp_path / "sms", inbox=tmp_path / "phone", clock=lambda: 0).poll)

    run(dataclasses.replace(config, mmsc=dataclasses.replace(config.mmsc, renotify_s=(60.0,))), body)


def test_ranges_head_and_unknown_tokens(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        url = f"/m/{job.token}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            head = await http.head(url)
            size = int(head.headers["Content-Length"])
            assert head.status_code == 200 and head.headers["Content-Type"] == MMS and head.content == b""
            first = await http.get(url, headers={"Range": "bytes=0-99"})
            assert first.status_code == 206 and first.headers["Content-Range"] == f"bytes 0-99/{size}"
            assert (await bridge.store.get(job_id)).state is JobState.NOTIFIED  # type: ignore[union-attr]
            rest = await http.get(url, headers={"Range": "bytes=100-"})
            assert rest.status_code == 206 and len(rest.content) == size - 100
            whole = first.content + rest.content
            assert isinstance(decode_pdu(whole), RetrieveConf)
            # the last byte was handed out: the phone has it all
            assert (await job_in(bridge, job_id, JobState.RETRIEVED, JobState.DELIVERED)).handset is Handset.FETCHED
            tail = await http.get(url, headers={"Range": "bytes=-10"})
            assert tail.status_code == 206 and tail.content == whole[-10:]
            bad = await http.get(url, headers={"Range": f"bytes={size}-"})
            assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{size}"
            assert (await http.get(url, headers={"Range": "bytes=0-1,5-9"})).content == whole  # several: all
            assert (await http.get(f"/m/{secrets.token_urlsafe(16)}")).status_code == 404
            assert (await http.get("/m/")).status_code == 404

    run(builtin_config(tmp_path, ack_wait_s=60.0), body)


def test_forged_or_truncated_answers_get_4xx_and_change_nothing(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        good = encode_pdu(NotifyRespInd(transaction_id=job.token, status=Status.RETRIEVED))
        forged = encode_pdu(NotifyRespInd(transaction_id=secrets.token_urlsafe(16), status=Status.RETRIEVED))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            assert (await http.post("/m", content=forged, headers={"Content-Type": MMS})).status_code == 404
            for n in range(1, len(good)):
                r = await http.post("/m", content=good[:n], headers={"Content-Type": MMS})
                assert r.status_code == 400, (n, r.text)
            assert (await http.post("/m", content=good, headers={"Content-Type": "text/plain"})).status_code == 415
            expired_status = encode_pdu(NotifyRespInd(transaction_id=job.token, status=Status.EXPIRED))
            assert (await http.post("/m", content=expired_status, headers={"Content-Type": MMS})).status_code == 400
            after = await bridge.store.get(job_id)
            assert after is not None and after.state is JobState.NOTIFIED and after.handset is None
            assert (await http.post("/m", content=good, headers={"Content-Type": MMS})).status_code == 200
        await job_in(bridge, job_id, JobState.DELIVERED)

    run(builtin_config(tmp_path, renotify_s=(60.0,)), body)


def test_content_is_removed_after_the_grace_period(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        bridge.worker.settings = dataclasses.replace(bridge.worker.settings, sweep_every_s=0.1)
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        await asyncio.to_thread(phone(tmp_path).poll)
        await job_in(bridge, job_id, JobState.DELIVERED)

        async def swept() -> bool:
            return not (await bridge.store.message(job.message_id)).mms

        await wait_for(swept)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            assert (await http.get(f"/m/{job.token}")).status_code == 404

    run(builtin_config(tmp_path, content_grace_s=0.2, ack_wait_s=60.0), body)


def test_a_push_missing_a_mandatory_header_is_refused_by_the_phone(tmp_path: Path) -> None:
    from bridge.codec.wap_push import encode_wsp_push, segment_push

    # an m-notification-ind without X-Mms-Expiry: type, TID, version, class, size, location
    pdu = (
        bytes.fromhex("8c82") + b"\x98T1\x00" + bytes.fromhex("8d92") + bytes.fromhex("8a80")
        + bytes.fromhex("8e0203e8") + b"\x83http://127.0.0.1:9/m/x\x00"
    )  # fmt: skip
    (tmp_path / "sms").mkdir()
    [ud] = segment_push(encode_wsp_push(pdu), reference=1)
    (tmp_path / "sms" / f"{NUMBER}-1a-1of1.ud").write_bytes(ud)
    with pytest.raises(PhoneError, match="Expiry"):
        phone(tmp_path).poll()
    assert (tmp_path / "sms" / "rejected" / f"{NUMBER}-1a-1of1.ud.reason").exists()


def test_delivery_config_default_expiry_is_in_the_notification(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        await send(bridge.port)
        await wait_for(lambda: asyncio.sleep(0, result=len(segments(tmp_path)) == 1))
        seen = dissect_push_segments([segments(tmp_path)[0].read_bytes()])
        assert 3500 <= float(seen.first("mmse.expiry.rel") or 0) <= 3600

    run(builtin_config(tmp_path, delivery=DeliveryConfig(poll_s=0.05, expiry_s=3600.0)), body)

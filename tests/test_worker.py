"""The worker against the real SQLite store and outbox, with routes scripted to fail in each way."""

from __future__ import annotations

import asyncio
import email
from pathlib import Path

from flufl.bounce import all_failures

from bridge.adapters.mail.outbox import OutboxMailSender
from bridge.adapters.mmsc.base import Delivery
from bridge.adapters.mmsc.folder import FolderRoute
from bridge.adapters.store.base import NewJob
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.codec.mms import SendReq, decode_pdu, encode_pdu
from bridge.codec.wsp import ContentType
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.model import MSISDN, Job, JobState, Notify, StoredMessage
from bridge.pipeline import RetryPolicy
from bridge.worker import Worker, WorkerSettings
from tests.convert.helpers import mail

RCPT = "12015554567@mms.example.net"
MMS = encode_pdu(
    SendReq(transaction_id="t", content_type=ContentType(media_type="application/vnd.wap.multipart.mixed"))
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    name = "scripted"

    def __init__(self, *results: object) -> None:
        self.results = list(results)
        self.calls = 0

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        self.calls += 1
        result = self.results.pop(0) if self.results else "ok"
        if isinstance(result, BaseException):
            raise result
        if isinstance(result, Delivery):
            return result
        return Delivery(mmsc_id=str(result))


async def setup(
    tmp: Path,
    route: object,
    *,
    mail_from: str = "camera@example.org",
    notify: frozenset[Notify] | None = None,
    raw: bytes | None = None,
    auto: bool = False,
) -> tuple[SQLiteJobStore, Worker, Clock]:
    store = await SQLiteJobStore.open(tmp / "db.sqlite")
    clock = Clock()
    message = StoredMessage(
        id="m1",
        mail_from=mail_from,
        received_at=clock.now,
        raw=raw or mail("Door"),
        mms=MMS,
        envid="E1",
        auto_submitted=auto,
        subject="Door",
    )
    await store.put(
        message,
        [
            NewJob(
                id="m1-0",
                recipient=MSISDN(e164="+12015554567"),
                rcpt_to=RCPT,
                original_recipient=None,
                notify=notify or frozenset({Notify.FAILURE, Notify.DELAY}),
                expires_at=clock.now + 3600,
            )
        ],
    )
    worker = Worker(
        store=store,
        route=route,
        mailer=OutboxMailSender(tmp / "outbox"),  # type: ignore[arg-type]
        settings=WorkerSettings(
            owner="w1",
            reporting_mta="mms.example.net",
            lease_s=60,
            policy=RetryPolicy(first_retry_s=60, max_retry_s=600, jitter=0, delay_warning_s=None),
        ),
        clock=clock,
        draw=lambda: 0.5,
    )
    return store, worker, clock


def outbox(tmp: Path) -> list[email.message.Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]


def test_temporary_failures_retry_on_schedule_then_deliver(tmp_path: Path) -> None:
    async def go() -> None:
        route = Scripted(TemporaryFailure("busy", "4.4.1"), TemporaryFailure("busy", "4.4.1"), "mmsc-7")
        store, worker, clock = await setup(tmp_path, route)
        assert await worker.run_once() == 1
        job = await store.get("m1-0")
        assert job is not None and (job.state, job.next_attempt_at, job.attempts) == (JobState.QUEUED, 1060, 1)
        clock.now = 1059
        assert await worker.run_once() == 0  # not before its time
        clock.now = 1060
        await worker.run_once()
        assert (await store.get("m1-0")).next_attempt_at == 1060 + 120  # type: ignore[union-attr]
        clock.now = 1180
        await worker.run_once()
        done = await store.get("m1-0")
        assert done is not None and done.state is JobState.DELIVERED and done.mmsc_id == "mmsc-7"
        assert route.calls == 3 and not outbox(tmp_path)  # no report asked for
        await store.close()

    asyncio.run(go())


def test_a_permanent_failure_bounces_with_a_dsn_flufl_reads(tmp_path: Path) -> None:
    async def go() -> None:
        store, worker, _ = await setup(tmp_path, Scripted(PermanentFailure("unknown subscriber", "5.1.1")))
        await worker.run_once()
        assert (await store.get("m1-0")).state is JobState.FAILED  # type: ignore[union-attr]
        [dsn] = outbox(tmp_path)
        assert dsn["Return-Path"] == "<>" and dsn["X-Envelope-To"] == "<camera@example.org>"
        assert all_failures(dsn)[1] == {RCPT.encode()}
        await store.close()

    asyncio.run(go())


def test_expiry_without_delivery_gives_a_4_4_7_dsn(tmp_path: Path) -> None:
    async def go() -> None:
        store, worker, clock = await setup(tmp_path, Scripted(*[TemporaryFailure("down", "4.4.1")] * 50))
        for _ in range(50):
            await worker.run_once()
            clock.now += 600
        job = await store.get("m1-0")
        assert job is not None and job.state is JobState.EXPIRED and job.last_status == "4.4.7"
        [dsn] = outbox(tmp_path)
        assert "Status: 4.4.7" in dsn.as_string() and all_failures(dsn)[1] == {RCPT.encode()}
        await store.close()

    asyncio.run(go())


def test_a_route_bug_is_a_temporary_failure_not_a_crash(tmp_path: Path) -> None:
    async def go() -> None:
        store, worker, _ = await setup(tmp_path, Scripted(RuntimeError("oops")))
        await worker.run_once()
        job = await store.get("m1-0")
        assert job is not None and job.state is JobState.QUEUED and job.last_status == "4.3.0"
        await store.close()

    asyncio.run(go())


def test_no_report_to_the_null_sender_an_auto_reply_or_a_report(tmp_path: Path) -> None:
    async def go(tmp: Path, **kw: object) -> None:
        store, worker, _ = await setup(tmp, Scripted(PermanentFailure("no", "5.1.1")), **kw)  # type: ignore[arg-type]
        await worker.run_once()
        assert (await store.get("m1-0")).state is JobState.FAILED  # type: ignore[union-attr]
        assert not outbox(tmp)
        await store.close()

    for i, kw in enumerate([{"mail_from": ""}, {"auto": True}, {"raw": b"Content-Type: multipart/report\r\n\r\n"}]):
        (tmp_path / str(i)).mkdir()
        asyncio.run(go(tmp_path / str(i), **kw))


def test_notify_success_gets_a_delivered_report_and_the_folder_route_delivers_once(tmp_path: Path) -> None:
    async def go() -> None:
        route = FolderRoute(tmp_path / "delivered")
        store, worker, _ = await setup(tmp_path, route, notify=frozenset({Notify.SUCCESS, Notify.FAILURE}))
        await worker.run_once()
        [dsn] = outbox(tmp_path)
        assert "Action: delivered" in dsn.as_string()
        [file] = (tmp_path / "delivered").glob("*.mms")
        pdu = decode_pdu(file.read_bytes())
        assert isinstance(pdu, SendReq) and pdu.transaction_id == "m1-0" and pdu.to == ("+12015554567/TYPE=PLMN",)
        job = await store.get("m1-0")
        await route.deliver(job, await store.message("m1"))  # type: ignore[arg-type]
        assert len(list((tmp_path / "delivered").glob("*.mms"))) == 1
        await store.close()

    asyncio.run(go())


def test_one_delayed_report_after_the_warning_time(tmp_path: Path) -> None:
    async def go() -> None:
        store, worker, clock = await setup(tmp_path, Scripted(*[TemporaryFailure("busy", "4.4.1")] * 10))
        worker.settings = WorkerSettings(
            owner="w1",
            reporting_mta="mms.example.net",
            lease_s=60,
            policy=RetryPolicy(first_retry_s=60, max_retry_s=600, jitter=0, delay_warning_s=300),
        )
        for _ in range(6):
            await worker.run_once()
            clock.now += 600
        reports = outbox(tmp_path)
        assert len(reports) == 1 and "Action: delayed" in reports[0].as_string()
        assert "Will-Retry-Until:" in reports[0].as_string()
        job = await store.get("m1-0")
        assert job is not None and job.delay_notified and job.state is JobState.QUEUED
        await store.close()

    asyncio.run(go())

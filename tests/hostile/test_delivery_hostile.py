"""Hostile input after the 250 (issue: hardening): an envelope sender that can never get its report, a report
sender that raises, a worker task that dies, a phone that resets the connection right after its GET, forged
MM7 callbacks (no credentials configured, UTF-16 DOCTYPEs, non-ASCII Authorization)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from pathlib import Path

import httpx
import pytest

from bridge.adapters.mail.relay import RelayMailSender
from bridge.adapters.store.base import NewJob
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.app import Bridge, serve
from bridge.codec import mm7
from bridge.errors import ConfigError, PermanentFailure, WorkerDied
from bridge.model import MSISDN, JobState, Notify, StoredMessage
from bridge.pipeline import RetryPolicy
from bridge.worker import Worker, WorkerSettings
from tests.adapters.bridge_fixture import builtin_config, route_config, running
from tests.adapters.mmsc_peer import Peer, submit_rsp
from tests.adapters.test_mmsc import job_in, send
from tests.adapters.test_routes import AUTH, config, mm7_route, report
from tests.adapters.test_routes import run as run_with_peer
from tests.adapters.test_routes import send as send_mm7
from tests.convert.helpers import mail
from tests.test_worker import MMS, Clock, Scripted


async def two_jobs(tmp: Path, senders: tuple[str, str]) -> SQLiteJobStore:
    store = await SQLiteJobStore.open(tmp / "db.sqlite")
    for n, sender in enumerate(senders):
        message = StoredMessage(id=f"m{n}", mail_from=sender, received_at=1000.0, raw=mail("x"), mms=MMS, subject="x")
        job = NewJob(
            id=f"m{n}-0",
            recipient=MSISDN(e164="+12015554567"),
            rcpt_to="12015554567@mms.example.net",
            original_recipient=None,
            notify=frozenset({Notify.FAILURE}),
            expires_at=99_999.0,
        )
        await store.put(message, [job])
    return store


def worker(store: SQLiteJobStore, route: object, mailer: object) -> Worker:
    return Worker(
        store=store,
        route=route,  # type: ignore[arg-type]
        mailer=mailer,  # type: ignore[arg-type]
        settings=WorkerSettings(
            owner="w1", reporting_mta="mms.example.net", lease_s=60, policy=RetryPolicy(jitter=0, delay_warning_s=None)
        ),
        clock=Clock(),
        draw=lambda: 0.5,
    )


def test_a_sender_whose_report_can_never_go_does_not_stop_the_others(tmp_path: Path) -> None:
    async def go() -> None:
        # stored as an older bridge would have stored it, before intake refused such addresses
        store = await two_jobs(tmp_path, ("pro\x00be@example.org", "camera@example.org"))
        route = Scripted(PermanentFailure("unknown subscriber", "5.1.1"), PermanentFailure("unknown", "5.1.1"))
        # the relay is never reached for the bad address; for the good one it is down (a temporary failure)
        relay = RelayMailSender(host="127.0.0.1", port=9, timeout_s=1, starttls=False, helo="t")
        w = worker(store, route, relay)
        assert await w.run_once() == 2
        bad, good = await store.get("m0-0"), await store.get("m1-0")
        assert bad is not None and bad.state is JobState.FAILED  # ended, its report dropped
        assert good is not None and good.state is JobState.LEASED  # its report waits for the relay
        await store.close()

    asyncio.run(go())


class Exploding:
    def __init__(self) -> None:
        self.calls = 0

    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in the report path")


def test_an_unexpected_exception_in_one_job_leaves_the_worker_running(tmp_path: Path) -> None:
    async def go() -> None:
        store = await two_jobs(tmp_path, ("a@example.org", "b@example.org"))
        route = Scripted(PermanentFailure("no", "5.1.1"), PermanentFailure("no", "5.1.1"))
        mailer = Exploding()
        w = worker(store, route, mailer)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        for _ in range(100):
            states = [(await store.get(j)).state for j in ("m0-0", "m1-0")]  # type: ignore[union-attr]
            if JobState.FAILED in states:
                break
            await asyncio.sleep(0.02)
        assert sorted(states) == sorted([JobState.FAILED, JobState.LEASED]), states
        assert not task.done()  # the worker goes on
        stop.set()
        await task
        await store.close()

    asyncio.run(go())


class Fatal(BaseException):
    """Something no per-job handler may swallow."""


def test_a_worker_that_dies_takes_the_process_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def sweep(self: Worker) -> int:
        raise Fatal("worker task killed")

    monkeypatch.setattr(Worker, "sweep", sweep)
    cfg = dataclasses.replace(builtin_config(tmp_path), routes=(route_config(kind="folder", folder=str(tmp_path)),))

    async def go() -> None:
        await asyncio.wait_for(serve(cfg), timeout=30)

    with pytest.raises(WorkerDied):
        asyncio.run(go())


def test_a_fetch_reset_right_after_the_request_is_not_recorded(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)

        def get_then_reset() -> None:
            sock = socket.create_connection(("127.0.0.1", bridge.http_port))
            sock.sendall(f"GET /m/{job.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            # SO_LINGER 0: close sends a RST at once, the way a phone losing its bearer looks from here
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

        for _ in range(5):
            await asyncio.to_thread(get_then_reset)
        await asyncio.sleep(1.0)
        after = await bridge.store.get(job_id)
        assert after is not None and after.state is JobState.NOTIFIED and after.handset is None
        # a whole fetch still counts
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{bridge.http_port}/m/{job.token}")
        assert r.status_code == 200
        await job_in(bridge, job_id, JobState.RETRIEVED, JobState.DELIVERED)

    async def go() -> None:
        async with running(builtin_config(tmp_path)) as bridge:
            await body(bridge)

    asyncio.run(go())


def test_an_mm7_route_with_delivery_reports_and_no_callback_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"route\.mm7\.callback_username"):
        route_config(kind="mm7", url="http://mmsc.example/mm7")
    route_config(kind="mm7", url="http://mmsc.example/mm7", callback_allow=("192.0.2.1",))
    route_config(kind="mm7", url="http://mmsc.example/mm7", delivery_report=False)


def test_mm7_callbacks_fail_closed_and_refuse_dtds_in_any_encoding(tmp_path: Path) -> None:
    peer = Peer(script=[submit_rsp(1000, "mmsc-5"), submit_rsp(1000, "mmsc-6")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send_mm7(bridge.port)
        await job_in(bridge, job_id, JobState.NOTIFIED)
        xml = {"Content-Type": "text/xml"}
        good = report("DeliveryReportReq", "mmsc-5", "Rejected")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            # the second route has neither credentials nor an allow-list: no callbacks at all
            assert (await http.post("/mm7/open", content=good, headers=xml)).status_code == 403
            # a non-ASCII Authorization header is a wrong credential, not a server error
            odd = {"Authorization": "Basic ÿÿÿ€".encode(), "Content-Type": b"text/xml"}
            assert (await http.post("/mm7/op", content=good, headers=odd)).status_code == 401
            # a DOCTYPE with an internal entity, in UTF-16 so that a byte search for "<!DOCTYPE" misses it
            text = good.decode()
            bomb = text.replace(
                "?>", '?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>', 1
            )
            if bomb == text:
                bomb = '<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">]>' + text
            body16 = bomb.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
            r = await http.post("/mm7/op", content=body16, headers={**AUTH, **xml})
            assert r.status_code == 400 and mm7.decode(r.content, "text/xml").status_code == 2007
        job = await bridge.store.get(job_id)
        assert job is not None and job.state is JobState.NOTIFIED and job.handset is None

    open_route = mm7_route(peer, name="open", delivery_report=False, callback_username="", callback_password="")
    run_with_peer(lambda: config(tmp_path, mm7_route(peer), open_route), peer, body)


def test_a_slow_mmsc_is_not_sent_the_same_message_again_and_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The MMSC takes 2.5 s to answer, the route waits 1 s: each SubmitReq may have been taken. The bridge waits
    unknown_outcome_wait_s before one resend, then gives up with 4.4.7 instead of sending a third copy."""
    import logging

    from tests.adapters.mmsc_peer import STALL
    from tests.adapters.test_routes import outbox

    caplog.set_level(logging.INFO)
    peer = Peer(script=[STALL, STALL, STALL, STALL])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send_mm7(bridge.port)
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.last_status == "4.4.7" and "may have been delivered" in (job.last_error or "")
        assert len(peer.requests) == 2  # the first and one resend, no more
        first, second = (r for r in caplog.records if "outcome=unknown" in r.getMessage())
        assert "possibly_duplicate=yes" in first.getMessage() and second.created - first.created >= 1.5
        assert len(outbox(tmp_path)) == 1  # the sender hears of it once

    route = {"timeout_s": 1.0, "unknown_outcome_wait_s": 1.5, "unknown_outcome_resends": 1}
    run_with_peer(lambda: config(tmp_path, mm7_route(peer, delivery_report=True, **route)), peer, body)

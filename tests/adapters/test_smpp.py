"""The SMPP transport against an SMSC nobody here wrote (PyPI smpp34's server, `tests/adapters/smsc.py`) on
loopback: the whole way from a mail to the phone, what tshark reads in the bytes we sent, the window, throttling,
errors, timeouts and lost connections — and that none of them loses a message."""

from __future__ import annotations

import asyncio
import email
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import smpp34
from flufl.bounce import all_failures

from bridge.adapters.sms.smpp import SMPPPushSender, SMPPSettings
from bridge.app import Bridge
from bridge.codec.wap_push import encode_wsp_push, segment_push
from bridge.config import SmsConfig
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.model import MSISDN, JobState
from bridge.phone import Phone
from tests.adapters.bridge_fixture import builtin_config, running
from tests.adapters.bridge_fixture import sms_config as sms_section
from tests.adapters.smsc import SMSC, Relay, free_port, smsc
from tests.adapters.test_mmsc import job_in, send, wait_for
from tests.oracle import dissect_smpp, split_smpp

TO = MSISDN(e164="+12015554567")


def settings(port: int, **kw: object) -> SMPPSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "bridge",
        "password": "secret",
        "source_addr": "MMS",
        "connect_timeout_s": 2.0,
        "response_timeout_s": 2.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "throttle_pause_s": 0.1,
    }
    return SMPPSettings(**{**base, **kw})  # type: ignore[arg-type]


def sms_config(port: int, **kw: object) -> SmsConfig:
    return sms_section(
        "smpp",
        host="127.0.0.1",
        port=port,
        system_id="bridge",
        password="secret",
        source_addr="MMS",
        connect_timeout_s=2.0,
        response_timeout_s=2.0,
        **{k.removeprefix("smpp_"): v for k, v in kw.items()},
    )


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    await wait_for(lambda: asyncio.sleep(0, result=predicate()), timeout)


def ud(n: int = 1) -> list[bytes]:
    return segment_push(encode_wsp_push(b"\x8c\x82" + bytes(n)), reference=n % 256)


def test_mail_to_phone_over_smpp_with_receipts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.smpp")

    async def go() -> None:
        async with smsc(receipts=True) as sim:
            relay = Relay(target=sim.port)
            await relay.start()
            config = builtin_config(tmp_path, sms=sms_config(relay.port, smpp_enquire_link_s=0.2))
            async with running(config) as bridge:
                assert bridge.port is not None
                job_id = await send(bridge.port, notify="SUCCESS", subject="Door")
                await job_in(bridge, job_id, JobState.NOTIFIED)
                [submit] = sim.submits
                assert (submit.esm_class, submit.data_coding, submit.registered_delivery) == (0x40, 0x04, 1)
                assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == ("12015554567", 1, 1)
                assert (submit.source_addr, submit.source_addr_ton) == ("MMS", 5)
                assert sim.binds == ["bridge"]
                # the handset: the SMS it got, read like any other
                inbox = tmp_path / "handset-sms"
                inbox.mkdir()
                (inbox / "+12015554567-1-1of1.ud").write_bytes(submit.short_message)
                [received] = await asyncio.to_thread(Phone(outbox=inbox, inbox=tmp_path / "phone").poll)
                assert received.message is not None and received.message.subject == "Door"
                await job_in(bridge, job_id, JobState.DELIVERED)
                await until(lambda: any((tmp_path / "outbox").glob("*.eml")))
                [dsn] = [email.message_from_bytes(p.read_bytes()) for p in (tmp_path / "outbox").glob("*.eml")]
                assert "Action: delivered" in dsn.as_string() and dsn["To"] == "<camera@example.org>"
                await until(
                    lambda: any("smpp receipt message_id=sim-1 stat=DELIVRD" in r.message for r in caplog.records)
                )
                await asyncio.sleep(0.5)  # an enquire_link or two
            await relay.stop()
        # what went over the wire, read by Wireshark: bind, submit_sm (down to the MMS headers), enquire_links
        seen = dissect_smpp(split_smpp(bytes(relay.sent[0])))
        names = [s.first("smpp.command_id") for s in seen]
        assert names[0] == "0x00000009" and "0x00000004" in names and "0x00000015" in names, names
        assert "0x80000005" in names  # the deliver_sm_resp to the receipt
        [submit_seen] = [s for s in seen if s.first("smpp.command_id") == "0x00000004"]
        assert not submit_seen.problems, submit_seen.problems
        assert {"gsm_sms_ud", "wsp", "mmse"} <= submit_seen.protocols
        assert submit_seen.first(
            "mmse.content_location",
        ).startswith("http://127.0.0.1:")  # type: ignore[union-attr]
        assert all(not s.problems for s in seen), [s.problems for s in seen]

    asyncio.run(go())


def test_the_window_bounds_the_submits_awaiting_an_answer() -> None:
    async def go() -> None:
        async with smsc(policy=lambda ev: None) as sim:
            sender = SMPPPushSender(settings(sim.port, window=2))
            sends = [asyncio.create_task(sender.send(to=TO, user_data=ud(i))) for i in range(5)]
            await until(lambda: len(sim.submits) == 2)
            await asyncio.sleep(0.3)
            assert len(sim.submits) == 2  # the third waits for a response
            sim.policy = lambda ev: ""
            sim.release()
            ids = await asyncio.gather(*sends)
            assert len(sim.submits) == 5 and sorted(ids) == [f"sim-{n}" for n in range(1, 6)]
            await sender.close()

    asyncio.run(go())


def test_errors_are_temporary_or_permanent_as_the_table_says() -> None:
    answers = [smpp34.ESME_RTHROTTLED, smpp34.ESME_RMSGQFUL, smpp34.ESME_RSYSERR, smpp34.ESME_RINVDSTADR, ""]

    async def go() -> None:
        async with smsc(policy=lambda ev: answers.pop(0)) as sim:
            sender = SMPPPushSender(settings(sim.port))
            for name in ("ESME_RTHROTTLED", "ESME_RMSGQFUL", "ESME_RSYSERR"):
                with pytest.raises(TemporaryFailure, match=name) as temporary:
                    await sender.send(to=TO, user_data=ud())
                assert temporary.value.status == "4.4.2"
            with pytest.raises(PermanentFailure, match="ESME_RINVDSTADR") as permanent:
                await sender.send(to=TO, user_data=ud())
            assert permanent.value.status == "5.1.1"
            assert await sender.send(to=TO, user_data=ud()) == "sim-1"
            assert len(sim.submits) == 5 and sim.binds == ["bridge"]  # errors are per message, the bind stays
            await sender.close()

    asyncio.run(go())


def test_a_lost_connection_fails_what_was_in_flight_and_the_esme_reconnects() -> None:
    async def go() -> None:
        async with smsc(policy=lambda ev: None) as sim:
            relay = Relay(target=sim.port)
            await relay.start()
            sender = SMPPPushSender(settings(relay.port))
            in_flight = asyncio.create_task(sender.send(to=TO, user_data=ud()))
            await until(lambda: len(sim.submits) == 1)
            relay.cut()
            with pytest.raises(TemporaryFailure, match="connection lost"):
                await in_flight
            sim.policy = lambda ev: ""
            assert (await sender.send(to=TO, user_data=ud())).startswith("sim-")
            assert len(relay.sent) == 2 and sender.connects == 2
            await sender.close()
            await relay.stop()

    asyncio.run(go())


def test_an_unanswered_submit_times_out() -> None:
    async def go() -> None:
        async with smsc(policy=lambda ev: None) as sim:
            sender = SMPPPushSender(settings(sim.port, response_timeout_s=0.3))
            with pytest.raises(TemporaryFailure, match="did not answer"):
                await sender.send(to=TO, user_data=ud())
            await sender.close()

    asyncio.run(go())


def test_an_smsc_that_is_down_then_up() -> None:
    async def go() -> None:
        sim = SMSC(port=free_port())
        sender = SMPPPushSender(settings(sim.port, connect_timeout_s=0.3))
        with pytest.raises(TemporaryFailure, match="no SMPP session") as down:
            await sender.send(to=TO, user_data=ud())
        assert down.value.status == "4.4.1"
        await sim.start()
        try:
            await until(lambda: sender._bound.is_set())
            assert await sender.send(to=TO, user_data=ud()) == "sim-1"
        finally:
            await sender.close()
            await sim.stop()

    asyncio.run(go())


def run_bridge(
    tmp: Path, policy: Callable[[smpp34.SubmitSmEvent], object], body: Callable[[Bridge, SMSC], Awaitable[None]]
) -> None:
    async def go() -> None:
        async with smsc(policy=policy) as sim, running(builtin_config(tmp, sms=sms_config(sim.port))) as bridge:  # type: ignore[arg-type]
            await body(bridge, sim)

    asyncio.run(go())


def test_a_throttled_notification_is_retried_on_schedule_not_lost(tmp_path: Path) -> None:
    answers: list[object] = [smpp34.ESME_RTHROTTLED]

    async def body(bridge: Bridge, sim: SMSC) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        assert job.attempts == 2 and len(sim.submits) == 2

    run_bridge(tmp_path, lambda ev: answers.pop(0) if answers else "", body)


def test_a_permanent_smpp_error_bounces(tmp_path: Path) -> None:
    async def body(bridge: Bridge, sim: SMSC) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.last_status == "5.1.1" and "ESME_RINVDSTADR" in (job.last_error or "")
        await until(lambda: any((tmp_path / "outbox").glob("*.eml")))
        [dsn] = [email.message_from_bytes(p.read_bytes()) for p in (tmp_path / "outbox").glob("*.eml")]
        assert {a.decode() if isinstance(a, bytes) else a for a in all_failures(dsn)[1]} == {
            "12015554567@mms.example.net"
        }

    run_bridge(tmp_path, lambda ev: smpp34.ESME_RINVDSTADR, body)

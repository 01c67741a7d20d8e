"""The Kannel transport against a real Kannel on loopback (`tests/adapters/kannel.py`): through smsbox's sendsms
and through wapbox's PPG, what the fake SMSC received is read by tshark and by the virtual handset, and the job
ends delivered; Kannel's refusals are temporary or permanent as the module says."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.adapters.sms.kannel import KannelPushSender, KannelSettings
from bridge.codec.wap_push import decode_user_data
from bridge.config import SmsConfig
from bridge.convert.notification import notification_push
from bridge.errors import TemporaryFailure
from bridge.model import MSISDN, JobState
from bridge.phone import Phone
from tests.adapters.bridge_fixture import builtin_config, running, sms_config
from tests.adapters.kannel import PASSWORD, USER, Kannel
from tests.adapters.smsc import free_port
from tests.adapters.test_mmsc import job_in, send, wait_for
from tests.oracle import dissect_push_segments

TO = MSISDN(e164="+12015554567")


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    peer = Kannel(folder=tmp_path_factory.mktemp("kannel"))
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()


def kannel_sms(kannel: Kannel, mode: str) -> SmsConfig:
    return sms_config(
        "kannel",
        mode=mode,
        sendsms_url=kannel.sendsms_url,
        ppg_url=kannel.ppg_url,
        username=USER if mode == "sendsms" else "",
        password=PASSWORD if mode == "sendsms" else "",
    )


async def until(predicate: object, timeout: float = 20.0) -> None:
    await wait_for(lambda: asyncio.sleep(0, result=predicate()), timeout)  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["sendsms", "ppg"])
def test_mail_to_phone_through_kannel(mode: str, kannel: Kannel, tmp_path: Path) -> None:
    before = len(kannel.captured())

    async def go() -> None:
        async with running(builtin_config(tmp_path, sms=kannel_sms(kannel, mode))) as bridge:
            assert bridge.port is not None and bridge.web is not None
            job_id = await send(bridge.port, notify="SUCCESS", subject="Door")
            job = await job_in(bridge, job_id, JobState.NOTIFIED)
            await until(lambda: len(kannel.captured()) > before)
            got = kannel.captured()[before:]
            assert {c.to for c in got} == {"+12015554567"}
            seen = dissect_push_segments([c.user_data for c in got])
            assert not seen.problems, seen.problems
            assert seen.first("mmse.transaction_id") == job.token
            assert seen.first("mmse.content_location") == f"http://127.0.0.1:{bridge.http_port}/m/{job.token}"
            assert {"wsp", "mmse"} <= seen.protocols
            # one SMS either way: for the PPG, From and Subject make room for the longer WSP headers it writes
            assert len(got) == 1 and decode_user_data(got[0].user_data).destination_port == 2948
            if mode == "sendsms":
                await until(lambda: bool(bridge.dlr and bridge.dlr.sms_reports))
            inbox = tmp_path / "handset-sms"
            inbox.mkdir()
            for n, c in enumerate(got, 1):
                (inbox / f"+12015554567-1-{n}of{len(got)}.ud").write_bytes(c.user_data)
            [received] = await asyncio.to_thread(Phone(outbox=inbox, inbox=tmp_path / "phone").poll)
            assert received.message is not None and received.message.subject == "Door"
            await job_in(bridge, job_id, JobState.DELIVERED)
            await until(lambda: any((tmp_path / "outbox").glob("*.eml")))
            [dsn] = [email.message_from_bytes(p.read_bytes()) for p in (tmp_path / "outbox").glob("*.eml")]
            assert "Action: delivered" in dsn.as_string() and dsn["To"] == "<camera@example.org>"

    asyncio.run(go())


def test_sendsms_keeps_our_concatenation_reference(kannel: Kannel) -> None:
    before = len(kannel.captured())
    ind, segments = notification_push(
        transaction_id="T-long",
        content_location="http://127.0.0.1:9/m/" + "x" * 150,
        message_size=1000,
        expiry=timedelta(hours=1),
        reference=0xA7,
    )
    assert len(segments) == 2

    async def go() -> None:
        sender = KannelPushSender(
            KannelSettings(mode="sendsms", sendsms_url=kannel.sendsms_url, username=USER, password=PASSWORD)
        )
        await sender.send(to=TO, user_data=segments)
        await sender.close()
        await until(lambda: len(kannel.captured()) >= before + 2)

    asyncio.run(go())
    got = kannel.captured()[before:]
    assert [decode_user_data(c.user_data).reference for c in got] == [0xA7, 0xA7]
    seen = dissect_push_segments([c.user_data for c in got])
    assert not seen.problems and seen.first("mmse.content_location") == ind.content_location


def test_kannel_refusals_and_absence_are_temporary(kannel: Kannel) -> None:
    async def go() -> None:
        wrong = KannelPushSender(
            KannelSettings(mode="sendsms", sendsms_url=kannel.sendsms_url, username=USER, password="nope")
        )
        with pytest.raises(TemporaryFailure, match="HTTP 403") as refused:
            await wrong.send(to=TO, user_data=[bytes.fromhex("0605040b8423f0") + b"x"])
        assert refused.value.status == "4.4.2"
        await wrong.close()
        down = KannelPushSender(
            KannelSettings(mode="ppg", ppg_url=f"http://127.0.0.1:{free_port()}/wappush", timeout_s=2)
        )
        with pytest.raises(TemporaryFailure) as absent:
            await down.send(to=TO, user_data=[], pdu=b"\x8c\x82")
        assert absent.value.status == "4.4.1"
        await down.close()

    asyncio.run(go())

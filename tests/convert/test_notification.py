"""The notification push: one SMS whenever it can be, checked by Wireshark; the outbox transport's files are
what `bridge decode` and a handset read."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.adapters.sms.outbox import OutboxPushSender
from bridge.codec.mms import NotificationInd, decode_pdu
from bridge.codec.wap_push import decode_wsp_push, reassemble
from bridge.convert.notification import notification_push
from bridge.model import MSISDN
from tests.oracle import dissect_push_segments

URL = "http://mms.example.net/m/AbCdEfGhIjKlMnOpQrStUv"  # 22 characters of token: 128+ random bits
BRIDGE = Path(sys.executable).with_name("bridge")

SENDERS = ["camera@example.org", "Front Door NVR <nvr-7@cams.example.com>", "monitoring-alerts@ops.example.net"]
SUBJECTS = ["", "Motion", "Motion detected at the front door (camera 3)", "Disk usage above 90 % on db-primary-01"]


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_realistic_notifications_fit_one_sms(sender: str, subject: str) -> None:
    ind, segments = notification_push(
        transaction_id="AbCdEfGhIjKlMnOpQrStUv-0",
        content_location=URL,
        message_size=287_331,
        expiry=timedelta(days=2),
        reference=7,
        sender=sender,
        subject=subject or None,
    )
    assert len(segments) == 1 and len(segments[0]) <= 140
    assert isinstance(decode_pdu(decode_wsp_push(reassemble(segments)).body), NotificationInd)
    assert ind.content_location == URL and ind.message_size == 287_331


def test_from_and_subject_are_kept_when_they_fit_and_dropped_subject_first() -> None:
    short, _ = notification_push(
        transaction_id="T1", content_location=URL, message_size=1000, expiry=timedelta(days=1), reference=1,
        sender="a@b.c", subject="Hi",
    )  # fmt: skip
    assert (short.sender, short.subject) == ("a@b.c", "Hi")
    long_subject, segments = notification_push(
        transaction_id="T1", content_location=URL, message_size=1000, expiry=timedelta(days=1), reference=1,
        sender="a@b.c", subject="S" * 80,
    )  # fmt: skip
    assert (long_subject.sender, long_subject.subject, len(segments)) == ("a@b.c", None, 1)


def test_a_url_too_long_for_one_sms_still_goes_in_several() -> None:
    ind, segments = notification_push(
        transaction_id="T1", content_location=URL + "/" + "x" * 150, message_size=1, expiry=timedelta(hours=1),
        reference=9, sender="a@b.c", subject="s",
    )  # fmt: skip
    assert len(segments) == 2 and ind.sender is None and ind.subject is None
    seen = dissect_push_segments(segments)
    assert not seen.problems and seen.first("mmse.content_location") == ind.content_location


def test_outbox_files_decode_with_bridge_decode_and_wireshark(tmp_path: Path) -> None:
    _, segments = notification_push(
        transaction_id="T9", content_location=URL + "/" + "y" * 150, message_size=5, expiry=timedelta(hours=1),
        reference=3,
    )  # fmt: skip
    push_id = asyncio.run(OutboxPushSender(tmp_path).send(to=MSISDN(e164="+12015554567"), user_data=segments))
    files = sorted(tmp_path.glob(f"+12015554567-{push_id}-*.ud"))
    assert [f.name.rsplit("-", 1)[1] for f in files] == ["1of2.ud", "2of2.ud"]
    seen = dissect_push_segments([f.read_bytes() for f in files])
    assert not seen.problems and seen.first("mmse.transaction_id") == "T9"
    out = subprocess.run(
        [str(BRIDGE), "decode", "--json", *map(str, reversed(files))], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["sms_segments"] == 2 and info["pdu"]["type"] == "notification-ind"


def test_a_gateway_that_writes_longer_push_headers_gets_a_shorter_notification() -> None:
    kwargs = dict(
        transaction_id="T" * 22,
        content_location=URL,
        message_size=48_000,
        expiry=timedelta(days=2),
        reference=1,
        sender="camera@example.org",
        subject="Door",
    )
    ours, _ = notification_push(**kwargs)  # type: ignore[arg-type]
    for_ppg, segments = notification_push(**kwargs, gateway_overhead=35)  # type: ignore[arg-type]
    assert ours.sender == "camera@example.org" and ours.subject == "Door"
    assert len(segments) == 1 and (for_ppg.sender, for_ppg.subject) != (ours.sender, ours.subject)
    assert len(segments[0]) + 35 <= 140

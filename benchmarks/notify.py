"""Notification benchmark (issue 5): how fast the builtin MMSC tells phones, and how often one SMS is enough.

- Over SMPP: `BuiltinMMSC.deliver` (decode the stored m-send-req, build the m-notification-ind, cut the WAP Push,
  submit_sm through our ESME) against an SMSC simulator (PyPI smpp34) in its own process on the other core,
  with a window of 1 and of 10. Baseline in the same run: smpplib (PyPI), a synchronous ESME, submitting
  ready-made SMS one at a time to the same simulator — the cost of SMPP itself with no MMS work.
- Over the outbox: the same `deliver` writing one file per SMS; baseline: writing the same bytes to files
  with open/write/fsync/rename in a plain loop.
- One SMS: the share of notifications that fit one SMS with From and Subject taken from the 78 real mails of
  `shared/corpus/real`, for a short and a long public URL — first with both kept, then as sent (From and
  Subject dropped when needed; target: all).

Run: `python benchmarks/notify.py` (the README's benchmark command installs smpp34 and smpplib).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.adapters.mmsc.builtin import BuiltinMMSC, content_location  # noqa: E402
from bridge.adapters.sms.outbox import OutboxPushSender  # noqa: E402
from bridge.adapters.sms.smpp import SMPPPushSender, SMPPSettings  # noqa: E402
from bridge.adapters.store.base import new_token  # noqa: E402
from bridge.codec.mms import SendReq, encode_pdu  # noqa: E402
from bridge.codec.multipart import BodyPart  # noqa: E402
from bridge.codec.wsp import ContentType  # noqa: E402
from bridge.convert.notification import notification_push  # noqa: E402
from bridge.model import MSISDN, Job, JobState, StoredMessage  # noqa: E402

SHARED = Path(os.environ.get("MMS_BRIDGE_SHARED", ROOT.parent / "shared"))
SIMULATOR = """
import asyncio, sys, smpp34
async def main():
    server = smpp34.Server(host="127.0.0.1", port=int(sys.argv[1]), system_id="SIM")
    await server.start()
    print("ready", flush=True)
    n = 0
    while True:
        ev = await server.next()
        if isinstance(ev, smpp34.SubmitSmEvent):
            n += 1
            ev.accept(message_id=f"sim-{n}")
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored_message(size: int = 100_000) -> StoredMessage:
    request = SendReq(
        transaction_id="q1",
        sender="camera@example.org",
        to=("+12015554567/TYPE=PLMN",),
        subject="Motion at the door",
        content_type=ContentType(media_type="application/vnd.wap.multipart.related"),
        parts=(
            BodyPart(content_type=ContentType(media_type="image/jpeg"), data=b"\xff" * size, content_location="a.jpg"),
        ),
    )
    mms = encode_pdu(request)
    return StoredMessage(id="q1", mail_from="camera@example.org", received_at=time.time(), raw=b"", mms=mms)


def job(n: int) -> Job:
    now = time.time()
    return Job(
        id=f"q1-{n}",
        message_id="q1",
        recipient=MSISDN(e164=f"+1555{n % 10_000_000:07d}"),
        state=JobState.LEASED,
        attempts=0,
        created_at=now,
        expires_at=now + 172_800,
        next_attempt_at=now,
        token=new_token(),
    )


async def run_deliveries(route: BuiltinMMSC, count: int, concurrency: int) -> float:
    message = stored_message()
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await route.deliver(job(n), message)

    await asyncio.gather(*(one(n) for n in range(min(50, count))))  # warm up
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def smpp_rate(port: int, window: int, count: int) -> float:
    sender = SMPPPushSender(
        SMPPSettings(host="127.0.0.1", port=port, system_id="bench", password="pw", window=window, max_per_second=1e9)
    )
    await sender.start()
    route = BuiltinMMSC(push=sender, public_url="http://mms.example.net")
    try:
        return await run_deliveries(route, count, concurrency=window)
    finally:
        await sender.close()


def smpplib_rate(port: int, user_data: bytes, count: int) -> float:
    import smpplib.client
    import smpplib.exceptions

    client = smpplib.client.Client("127.0.0.1", port, timeout=10)
    client.set_message_sent_handler(lambda pdu: None)
    client.connect()
    client.bind_transmitter(system_id="base", password="pw")

    def one() -> None:
        client.send_message(
            source_addr_ton=5,
            source_addr="MMS",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="12015554567",
            esm_class=0x40,
            data_coding=4,
            short_message=user_data,
        )
        client.read_once()  # the submit_sm_resp: one outstanding, as a window of 1

    for _ in range(min(50, count)):
        one()
    started = time.perf_counter()
    for _ in range(count):
        one()
    rate = count / (time.perf_counter() - started)
    with contextlib.suppress(smpplib.exceptions.ConnectionError):  # smpp34 1.5.0 sends no unbind_resp
        client.unbind()
    client.disconnect()
    return rate


def outbox_baseline(folder: Path, user_data: bytes, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        path = folder / f"+12015554567-{n}-1of1.ud"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(user_data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return count / (time.perf_counter() - started)


def corpus_headers() -> list[tuple[str | None, str | None]]:
    found = []
    for path in sorted((SHARED / "corpus" / "real").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        try:
            sender = msg["From"].addresses[0].addr_spec if msg["From"] and msg["From"].addresses else None
            subject = str(msg["Subject"]) if msg["Subject"] is not None else None
        except Exception:  # a header the policy cannot parse: as the bridge would, keep what there is
            sender, subject = None, None
        found.append((sender or None, subject or None))
    return found


def one_sms_shares(base_url: str) -> tuple[float, float, int]:
    headers = corpus_headers()
    full = fits = 0
    for n, (sender, subject) in enumerate(headers):
        ind, segments = notification_push(
            transaction_id=new_token(),
            content_location=content_location(base_url, new_token()),
            message_size=250_000,
            expiry=timedelta(days=2),
            reference=n % 256,
            sender=sender,
            subject=subject,
        )
        fits += len(segments) == 1
        full += len(segments) == 1 and ind.sender == sender and ind.subject == subject
    return full / len(headers), fits / len(headers), len(headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="notifications per measurement")
    args = parser.parse_args()

    port = free_port()
    cores = os.cpu_count() or 1
    simulator = subprocess.Popen(
        (["taskset", "-c", "1"] if cores > 1 else []) + [sys.executable, "-c", SIMULATOR, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulator.stdout is not None and simulator.stdout.readline().strip() == "ready"
        if cores > 1:
            os.sched_setaffinity(0, {0})
        _, segments = notification_push(
            transaction_id=new_token(),
            content_location=content_location("http://mms.example.net", new_token()),
            message_size=100_000,
            expiry=timedelta(days=2),
            reference=1,
            sender="camera@example.org",
        )
        baseline = smpplib_rate(port, segments[0], args.count)
        print(f"SMPP baseline, smpplib (window 1, ready-made SMS): {baseline:,.0f} submit_sm/s")
        for window in (1, 10):
            rate = asyncio.run(smpp_rate(port, window, args.count))
            ratio = rate / baseline
            print(f"SMPP, builtin MMSC deliver, window {window:>2}: {rate:,.0f} notifications/s = {ratio:.2f}x smpplib")
    finally:
        simulator.terminate()
        simulator.wait()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "base").mkdir()
        base = outbox_baseline(folder / "base", segments[0], args.count // 3)
        route = BuiltinMMSC(push=OutboxPushSender(folder / "sms"), public_url="http://mms.example.net")
        rate = asyncio.run(run_deliveries(route, args.count // 3, concurrency=8))
        print(f"outbox baseline, open/write/fsync/rename loop: {base:,.0f} files/s")
        print(f"outbox, builtin MMSC deliver: {rate:,.0f} notifications/s = {rate / base:.2f}x the baseline")

    for base_url in ("http://127.0.0.1:8088", "https://mms.operator-example.com:8443"):
        full, fits, n = one_sms_shares(base_url)
        print(
            f"one SMS, {n} real mails' From/Subject, URL {content_location(base_url, 'x' * 22)} "
            f"({len(content_location(base_url, 'x' * 22))} chars): with From and Subject {full:.0%}, as sent {fits:.0%}"
        )


if __name__ == "__main__":
    main()

"""MM7 benchmark (issue 6): SubmitReq submissions per second from the MM7 route to a loopback MMSC, 300 KB MMS.

The MMSC is an aiohttp server in its own process on the other core that reads each request and answers a
SubmitRsp (status 1000). The client is `MM7Route.deliver` on one core (decode the stored m-send-req, build the
SOAP envelope and the MIME content, POST with httpx, parse the answer), with 8 requests in flight. Baseline in
the same run: httpx alone POSTing the same, already built body — the HTTP client's own cost. Reported: requests
per second, and the client's CPU per request (process time), for both. Target: at least 200 submissions/s.

Run: `python benchmarks/mm7.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bridge.adapters.mmsc.mm7 import MM7Route, MM7Settings  # noqa: E402
from bridge.codec.mms import SendReq, encode_pdu  # noqa: E402
from bridge.codec.multipart import BodyPart  # noqa: E402
from bridge.codec.smil import SMIL_MEDIA_TYPE  # noqa: E402
from bridge.codec.tables import Charset  # noqa: E402
from bridge.codec.wsp import ContentType  # noqa: E402
from bridge.model import MSISDN, Job, JobState, StoredMessage  # noqa: E402

MMSC = """
import sys
from aiohttp import web
from bridge.codec import mm7
ANSWER = mm7.encode_response("SubmitRsp", release="REL-6-MM7-1-4", transaction_id="t", MessageID="m1")
async def handle(request):
    await request.read()
    return web.Response(body=ANSWER, content_type="text/xml")
app = web.Application(client_max_size=10 * 1024 * 1024)
app.router.add_post("/mm7", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("ready", flush=True), access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored(size: int = 300_000) -> StoredMessage:
    smil = b'<smil><body><par dur="5s"><img src="image1.jpg"/><text src="text1.txt"/></par></body></smil>'
    request = SendReq(
        transaction_id="q1",
        sender="camera@example.org",
        to=("+12015554567/TYPE=PLMN",),
        subject="Motion at the door",
        content_type=ContentType(media_type="application/vnd.wap.multipart.related"),
        parts=(
            BodyPart(content_type=ContentType(media_type=SMIL_MEDIA_TYPE), data=smil, content_location="smil.xml"),
            BodyPart(
                content_type=ContentType(media_type="image/jpeg"),
                data=os.urandom(size),
                content_location="image1.jpg",
            ),
            BodyPart(
                content_type=ContentType(media_type="text/plain", charset=Charset.UTF_8),
                data=b"Someone at the door",
                content_location="text1.txt",
            ),
        ),
    )
    return StoredMessage(
        id="q1", mail_from="camera@example.org", received_at=time.time(), raw=b"", mms=encode_pdu(request)
    )


def job(n: int) -> Job:
    now = time.time()
    return Job(
        id=f"q1-{n}",
        message_id="q1",
        recipient=MSISDN(e164="+12015554567"),
        state=JobState.LEASED,
        attempts=0,
        created_at=now,
        expires_at=now + 172_800,
        next_attempt_at=now,
    )


async def measure(count: int, concurrency: int, one: object) -> tuple[float, float]:
    gate = asyncio.Semaphore(concurrency)

    async def run(n: int) -> None:
        async with gate:
            await one(n)  # type: ignore[operator]

    await asyncio.gather(*(run(n) for n in range(min(50, count))))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(n) for n in range(count)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu / count * 1000


async def bench(url: str, count: int, concurrency: int) -> None:
    message = stored()
    route = MM7Route(MM7Settings(url=url, delivery_report=False, vasp_id="bench", vas_id="bench"), name="bench")
    content_type, body = route.build(job(0), message)
    http = httpx.AsyncClient(timeout=30)

    async def raw(n: int) -> None:
        response = await http.post(url, content=body, headers={"Content-Type": content_type, "SOAPAction": '""'})
        assert response.status_code == 200

    async def submit(n: int) -> None:
        delivery = await route.deliver(job(n), message)
        assert delivery.mmsc_id == "m1"

    base_rate, base_cpu = await measure(count, concurrency, raw)
    rate, cpu = await measure(count, concurrency, submit)
    await http.aclose()
    await route.close()
    print(f"request body {len(body):,} bytes (300 KB image + SMIL + text as SOAP with attachments)")
    print(f"baseline, httpx POSTing the ready body: {base_rate:,.0f} requests/s, {base_cpu:.2f} ms CPU per request")
    print(f"MM7 route deliver: {rate:,.0f} submissions/s, {cpu:.2f} ms CPU per request = {rate / base_rate:.2f}x")
    print(f"target >= 200 submissions/s: {'met' if rate >= 200 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    try:
        import sniffio  # noqa: F401
    except ImportError:
        print("warning: sniffio is not installed; httpcore is much slower without it", file=sys.stderr)
    with server_on_the_other_core(MMSC) as port:
        asyncio.run(bench(f"http://127.0.0.1:{port}/mm7", args.count, args.concurrency))


@contextlib.contextmanager
def server_on_the_other_core(script: str) -> Iterator[int]:
    """`script` (an aiohttp server printing "ready") on core 1 at a free port, this process on core 0; the port."""
    port = free_port()
    cores = os.cpu_count() or 1
    server = subprocess.Popen(
        (["taskset", "-c", "1"] if cores > 1 else []) + [sys.executable, "-c", script, str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None and "ready" in server.stdout.readline()
        if cores > 1:
            os.sched_setaffinity(0, {0})
        yield port
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

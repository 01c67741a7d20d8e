"""REST routes benchmark (issue 16): messages per second from the Twilio, Telnyx and Bandwidth routes to a loopback
server each, and the client's CPU per message against httpx alone sending the same, already built requests.

The servers are one aiohttp process on the other core answering each provider's success (Twilio 201 with a `sid`,
Telnyx 200 with `data.id`, Bandwidth 204 to the media upload and 202 with an `id`). The client is the route's
`deliver` on one core (decode the stored m-send-req, pick its text and media, build the request, POST, read the
answer; Bandwidth uploads the picture first), 8 messages in flight, status callbacks off so that each `deliver` is
one whole send. The message: a 300 KB picture and a line of text. Baseline in the same run: httpx posting the
requests the route would send, built beforehand. Target: the route's CPU per message at most twice httpx's
(reported as httpx's CPU / the route's: >= 0.5x).

Run: `python benchmarks/rest.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from mm7 import job, measure, server_on_the_other_core, stored  # noqa: E402

from bridge.adapters.rest.bandwidth import BandwidthRoute  # noqa: E402
from bridge.adapters.rest.base import RestRoute, outgoing  # noqa: E402
from bridge.adapters.rest.telnyx import TelnyxRoute  # noqa: E402
from bridge.adapters.rest.twilio import TwilioRoute  # noqa: E402
from bridge.config import BandwidthSettings, TelnyxSettings, TwilioSettings  # noqa: E402

SID = "AC" + "0" * 32
SERVERS = """
import sys
from aiohttp import web
async def twilio(request):
    await request.read()
    return web.json_response({"sid": "SM" + "0" * 32, "status": "queued"}, status=201)
async def telnyx(request):
    await request.read()
    return web.json_response({"data": {"id": "40385f64-5717-4562-b3fc-2c963f66afa6"}})
async def upload(request):
    await request.read()
    return web.Response(status=204)
async def bandwidth(request):
    await request.read()
    return web.json_response({"id": "1589228074636lm4k2je7j7jklbn2"}, status=202)
app = web.Application(client_max_size=10 * 1024 * 1024)
app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", twilio)
app.router.add_post("/v2/messages", telnyx)
app.router.add_put("/api/v2/users/{account}/media/{media}", upload)
app.router.add_post("/api/v2/users/{account}/messages", bandwidth)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("ready", flush=True), access_log=None)
"""
PUBLIC = "https://bridge.example.net"


def routes(base: str) -> dict[str, RestRoute]:
    return {
        "twilio": TwilioRoute(
            TwilioSettings(base_url=base, account_sid=SID, auth_token="t", from_number="+15550100",
                           status_callbacks=False),
            name="tw", public_url=PUBLIC,
        ),
        "telnyx": TelnyxRoute(
            TelnyxSettings(base_url=f"{base}/v2", api_key="k", from_number="+15550100", status_callbacks=False),
            name="tx", public_url=PUBLIC,
        ),
        "bandwidth": BandwidthRoute(
            BandwidthSettings(base_url=f"{base}/api/v2", account_id="9900000", application_id="a",
                              from_number="+15550100", username="u", password="p", status_callbacks=False),
            name="bw", public_url=PUBLIC,
        ),
    }  # fmt: skip


def baseline(kind: str, base: str, http: httpx.AsyncClient) -> Callable[[int], Awaitable[None]]:
    """httpx alone sending what the route sends for one message, built beforehand."""
    message = stored()
    out = outgoing(message, max_text_chars=1600)
    media = f"{PUBLIC}/media/token/1"
    if kind == "twilio":
        form = urlencode([("To", "+12015554567"), ("From", "+15550100"), ("Body", out.text), ("MediaUrl", media)])
        url, body, headers = f"{base}/2010-04-01/Accounts/{SID}/Messages.json", form.encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic dTpw"}  # fmt: skip

        async def one(n: int) -> None:
            assert (await http.post(url, content=body, headers=headers)).status_code == 201

        return one
    if kind == "telnyx":
        data = json.dumps({"to": "+12015554567", "from": "+15550100", "text": out.text, "type": "MMS",
                           "media_urls": [media]}).encode()  # fmt: skip
        headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}

        async def one(n: int) -> None:
            assert (await http.post(f"{base}/v2/messages", content=data, headers=headers)).status_code == 200

        return one
    picture = bytes(next(p for p in _parts(message.mms) if p.content_type.media_type == "image/jpeg").data)
    data = json.dumps({"applicationId": "a", "to": ["+12015554567"], "from": "+15550100", "text": out.text,
                       "media": [f"{base}/api/v2/users/9900000/media/x-1"], "tag": "t"}).encode()  # fmt: skip

    auth = {"Authorization": "Basic dTpw"}

    async def both(n: int) -> None:
        put = await http.put(f"{base}/api/v2/users/9900000/media/x-{n}", content=picture,
                             headers={**auth, "Content-Type": "image/jpeg"})  # fmt: skip
        assert put.status_code == 204
        posted = await http.post(f"{base}/api/v2/users/9900000/messages", content=data,
                                 headers={**auth, "Content-Type": "application/json"})  # fmt: skip
        assert posted.status_code == 202

    return both


def _parts(mms: bytes) -> tuple:  # type: ignore[type-arg]
    from bridge.adapters.mmsc.base import stored_request

    return stored_request(mms).parts


async def bench(base: str, count: int, concurrency: int) -> None:
    message = stored()
    http = httpx.AsyncClient(timeout=30)
    print(f"message: {len(message.mms):,} bytes stored (300 KB picture + text); {concurrency} in flight, one core")
    for kind, route in routes(base).items():

        async def deliver(n: int, route: RestRoute = route) -> None:
            delivery = await route.deliver(job(n), message)
            assert delivery.mmsc_id and not delivery.pending

        base_rate, base_cpu = await measure(count, concurrency, baseline(kind, base, http))
        rate, cpu = await measure(count, concurrency, deliver)
        await route.close()
        ratio = base_cpu / cpu
        print(f"{kind:>9}: httpx alone {base_rate:,.0f} msg/s, {base_cpu:.2f} ms CPU/msg; route {rate:,.0f} msg/s, "
              f"{cpu:.2f} ms CPU/msg; httpx CPU / route CPU = {ratio:.2f}x "
              f"(target >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")  # fmt: skip
    await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args, _ = parser.parse_known_args()
    with server_on_the_other_core(SERVERS) as port:
        asyncio.run(bench(f"http://127.0.0.1:{port}", args.count, args.concurrency))


if __name__ == "__main__":
    main()

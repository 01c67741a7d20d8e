"""The Twilio, Telnyx and Bandwidth routes through the whole bridge (mail in over SMTP), each against a loopback
stand-in that validates every request against the provider's own OpenAPI document, fetches the media as the
provider would, and posts signed status callbacks (`tests/adapters/rest_providers.py`): a photo mail delivered and
reported, a text mail as SMS, each error class, 429 with Retry-After, an outage then recovery, a fallback route,
forged, replayed and badly signed callbacks refused, the media URLs, OAuth2 tokens, inbound messages."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import json
import logging
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiosmtplib
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flufl.bounce import all_failures

from bridge.app import Bridge
from bridge.config import Config, RouteConfig
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, both_stores, bridge_config, route_config, running
from tests.adapters.rest_providers import (
    BANDWIDTH_ACCOUNT,
    BANDWIDTH_APP,
    BANDWIDTH_CLIENT,
    BANDWIDTH_PASSWORD,
    BANDWIDTH_SECRET,
    BANDWIDTH_USER,
    CALLBACK_PASSWORD,
    CALLBACK_USER,
    FROM,
    TELNYX_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeBandwidth,
    FakeTelnyx,
    FakeTwilio,
    Plan,
    Provider,
    twilio_signature,
)
from tests.adapters.test_mmsc import job_in, wait_for
from tests.convert.helpers import mail, photo

SENDER = "camera@example.org"
NUMBER = "+12015554567"
PROVIDERS = ("twilio", "telnyx", "bandwidth")


def make_provider(kind: str, **kw: Any) -> Provider:
    return {"twilio": FakeTwilio, "telnyx": FakeTelnyx, "bandwidth": FakeBandwidth}[kind](**kw)


def rest_route(provider: Provider, **kw: Any) -> RouteConfig:
    if isinstance(provider, FakeTwilio):
        keys: dict[str, Any] = {"name": "tw", "kind": "twilio", "base_url": provider.url, "account_sid": TWILIO_SID,
                                "auth_token": TWILIO_TOKEN, "from_number": FROM, "timeout_s": 2.0}  # fmt: skip
    elif isinstance(provider, FakeTelnyx):
        keys = {"name": "tx", "kind": "telnyx", "base_url": f"{provider.url}/v2", "api_key": TELNYX_KEY,
                "from_number": FROM, "public_key": provider.public_key, "timeout_s": 2.0}  # fmt: skip
    else:
        keys = {
            "name": "bw",
            "kind": "bandwidth",
            "base_url": f"{provider.url}/api/v2",
            "account_id": BANDWIDTH_ACCOUNT,
            "application_id": BANDWIDTH_APP,
            "from_number": FROM,
            "username": BANDWIDTH_USER,
            "password": BANDWIDTH_PASSWORD,
            "token_url": f"{provider.url}/api/v1/oauth2/token",
            "callback_username": CALLBACK_USER,
            "callback_password": CALLBACK_PASSWORD,
            "timeout_s": 2.0,
        }
    return route_config(**{**keys, **kw})


def config(tmp: Path, *routes: RouteConfig) -> Config:
    return dataclasses.replace(bridge_config(tmp), routes=routes)


def run(
    tmp: Path,
    providers: list[Provider],
    routes: Callable[[], tuple[RouteConfig, ...]],
    body: Callable[[Bridge], Awaitable[None]],
) -> None:
    async def go() -> None:
        for p in providers:
            await p.start_server()  # type: ignore[attr-defined]
        try:
            async with running(config(tmp, *routes())) as bridge:
                for p in providers:
                    if isinstance(p, FakeBandwidth):
                        name = next(r.label for r in bridge.config.routes if r.kind == "bandwidth")
                        p.callback_url = f"http://127.0.0.1:{bridge.http_port}/rest/{name}/status"
                await body(bridge)
        finally:
            for p in providers:
                await p.stop()
        for p in providers:
            assert p.invalid == [], p.invalid
            assert p.media_problems == [], p.media_problems

    asyncio.run(go())


async def send(
    port: int, *, text: str = "Someone at the door", pictures: int = 1, notify: str | None = None, number: str = ""
) -> str:
    """A mail with `pictures` 800x600 photos to `number` (digits; the test number by default)."""
    attachments = [(photo(800, 600), "image/jpeg", f"door{i}.jpg") for i in range(pictures)]
    raw = mail(text, subject="Door", attachments=attachments)
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo(hostname="client.test")
    await c.mail(SENDER)
    await c.rcpt(f"{number or NUMBER[1:]}@{DOMAIN}", options=[f"NOTIFY={notify}"] if notify else [])
    code, reply = await c.data(raw)
    await c.quit()
    assert code == 250, reply
    return reply.split()[-1] + "-0"


def reports(tmp: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]


def dsn_fields(report: Message) -> list[tuple[str, str]]:
    found = []
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload():
                assert isinstance(block, Message)
                if block.get("Action"):
                    found.append((str(block["Action"]), str(block["Status"])))
    return found


@pytest.mark.usefixtures(both_stores.__name__)
@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_photo_mail_is_sent_as_mms_and_its_delivery_reported(kind: str, tmp_path: Path) -> None:
    provider = make_provider(kind)

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port, notify="SUCCESS,FAILURE")
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED, job.last_error
        [sent] = provider.sent
        assert sent.to == NUMBER and sent.kind == "MMS" and job.mmsc_id == sent.id
        assert [t for t, _ in sent.media] == ["image/jpeg"] and 10_000 < sent.media[0][1] < 1_000_000
        assert "Someone at the door" in sent.text
        assert provider.responses_checked >= 1
        await wait_for(lambda: _true(len(provider.callbacks_posted) >= 2))
        assert {status for _, status in provider.callbacks_posted} == {200}
        timeline = [what for _, what in await bridge.store.events(job_id)]
        assert any(kind.capitalize() in line for line in timeline), timeline
        await wait_for(lambda: _true(bool(reports(tmp_path))))
        [report] = reports(tmp_path)
        assert dsn_fields(report) == [("delivered", "2.0.0")]
        if isinstance(provider, FakeBandwidth):
            # the upload is deleted once the job ended
            await wait_for(lambda: _true(not provider.uploads))
            assert provider.deleted == [f"mms-bridge-{job_id}-{i}" for i in (2,)] or len(provider.deleted) == 1

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_text_mail_goes_as_sms_with_its_subject(kind: str, tmp_path: Path) -> None:
    provider = make_provider(kind)

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port, text="Backup finished: 42 files.", pictures=0)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED, job.last_error
        [sent] = provider.sent
        assert sent.kind == "SMS" and sent.media == []
        assert sent.text.startswith("Door") and "Backup finished: 42 files." in sent.text

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


@pytest.mark.parametrize(
    ("kind", "plan", "status"),
    [
        # refusals of the API itself, decided by the provider's error code
        ("twilio", Plan(status=400, code="21211"), "5.1.3"),
        ("twilio", Plan(status=400, code="21635"), "5.1.1"),
        ("twilio", Plan(status=400, code="12300"), "5.6.1"),
        ("twilio", Plan(status=400, code="11751"), "5.3.4"),
        ("twilio", Plan(status=400, code="21610"), "5.7.1"),
        ("twilio", Plan(status=400, code="99999"), "5.3.0"),
        ("telnyx", Plan(status=400, code="40310"), "5.1.3"),
        ("telnyx", Plan(status=403, code="40300"), "5.7.1"),
        ("bandwidth", Plan(status=400, code="field:to"), "5.1.3"),
        # failures the status callback reports
        ("twilio", Plan(final="undelivered", final_code="30007"), "5.7.1"),
        ("twilio", Plan(final="failed", final_code="30006"), "5.1.1"),
        ("telnyx", Plan(final="failed", final_code="40012"), "5.1.1"),
        ("telnyx", Plan(final="expired"), "4.4.7"),
        ("bandwidth", Plan(final="failed", final_code="4412"), "5.6.1"),
        ("bandwidth", Plan(final="failed", final_code="4711"), "5.3.4"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.status or v.final}-{v.code or v.final_code}",
)
def test_each_error_class_ends_the_job_with_its_status_and_a_dsn(
    kind: str, plan: Plan, status: str, tmp_path: Path
) -> None:
    provider = make_provider(kind, plan=[plan])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.FAILED and job.last_status == status, (job.last_status, job.last_error)
        await wait_for(lambda: _true(bool(reports(tmp_path))))
        [report] = reports(tmp_path)
        assert dsn_fields(report) == [("failed", status)]
        # the DSN is one a bounce processor reads: the recipient's address is found as failed
        temporary, permanent = all_failures(report)
        assert temporary | permanent == {f"{NUMBER[1:]}@{DOMAIN}".encode()}
        assert len(provider.send_times) == 1
        if isinstance(provider, FakeBandwidth):
            await wait_for(lambda: _true(not provider.uploads))

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_429_waits_as_long_as_retry_after_says(kind: str, tmp_path: Path) -> None:
    provider = make_provider(kind, plan=[Plan(status=429, retry_after="2")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED, job.last_error
        first, second = provider.send_times
        # the test's retry schedule is 0.2 s; Retry-After asked for 2
        assert second - first >= 1.9

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_an_outage_is_retried_until_the_provider_recovers(tmp_path: Path) -> None:
    provider = FakeTwilio(plan=[Plan(status=503), Plan(status=500), Plan(status=502)])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED and job.attempts >= 4
        assert len(provider.send_times) == 4 and len(provider.sent) == 1

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_a_provider_that_is_not_there_is_a_temporary_failure_then_it_comes(tmp_path: Path) -> None:
    provider = FakeTelnyx()

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        await provider.stop()  # nothing listens on its port now
        job_id = await send(bridge.port)
        await wait_for(lambda: _has_error(bridge, job_id, "cannot connect"))
        job = await bridge.store.get(job_id)
        assert job is not None and job.state is JobState.QUEUED and job.last_status == "4.4.1"
        assert await bridge.router.readiness() != {"tx": None}  # type: ignore[union-attr]
        port = int(provider.url.rsplit(":", 1)[1])
        await _restart_on(provider, port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


async def _restart_on(provider: Provider, port: int) -> None:
    from aiohttp import web

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/v2/messages", provider.create)  # type: ignore[attr-defined]
    provider._runner = web.AppRunner(app, access_log=None)
    await provider._runner.setup()
    await web.TCPSite(provider._runner, "127.0.0.1", port).start()


async def _has_error(bridge: Bridge, job_id: str, words: str) -> bool:
    job = await bridge.store.get(job_id)
    return job is not None and words in (job.last_error or "")


def test_a_temporary_failure_falls_over_to_the_fallback_route(tmp_path: Path) -> None:
    twilio = FakeTwilio(plan=[Plan(status=503)] * 20)
    telnyx = FakeTelnyx()

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED and job.route == "tx"
        assert len(telnyx.sent) == 1 and twilio.sent == []

    run(
        tmp_path,
        [twilio, telnyx],
        lambda: (rest_route(twilio, fallback="tx"), rest_route(telnyx, prefixes=("+44",))),
        body,
    )


def test_a_provider_that_stalls_after_the_request_is_sent_once_more_at_most_and_not_soon(tmp_path: Path) -> None:
    provider = FakeTwilio()
    original = provider.create

    async def stalls(request: Any) -> Any:
        await request.read()
        await asyncio.sleep(30)
        return await original(request)

    provider.create = stalls  # type: ignore[method-assign]

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        await wait_for(lambda: _has_error(bridge, job_id, "unknown outcome 1"))
        job = await bridge.store.get(job_id)
        assert job is not None and job.state is JobState.QUEUED
        # the provider may have taken it: not sent again before the wait for an answer is long past
        assert job.next_attempt_at - time.time() > 250

    run(tmp_path, [provider], lambda: (rest_route(provider, timeout_s=0.5),), body)


def _pending(kind: str) -> Provider:
    """A provider whose callbacks come only after the test is done (the job waits in `notified`)."""
    return make_provider(kind, plan=[Plan(callback_delay_s=600)])


async def _notified(bridge: Bridge) -> tuple[str, str]:
    assert bridge.port is not None
    job_id = await send(bridge.port)
    job = await job_in(bridge, job_id, JobState.NOTIFIED)
    assert job.mmsc_id is not None
    return job_id, job.mmsc_id


def test_twilio_callbacks_without_the_right_signature_are_refused(tmp_path: Path) -> None:
    provider = _pending("twilio")
    assert isinstance(provider, FakeTwilio)

    async def body(bridge: Bridge) -> None:
        job_id, sid = await _notified(bridge)
        [sent] = provider.sent
        assert sent.callback_url is not None
        url = sent.callback_url
        headers, good = provider.callback(url, sid, {"To": NUMBER, "From": FROM}, "failed", "30007")
        forged = good.replace(b"failed", b"delivered")
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, content=forged, headers=headers)).status_code == 403
            unsigned = {k: v for k, v in headers.items() if k != "X-Twilio-Signature"}
            assert (await http.post(url, content=good, headers=unsigned)).status_code == 403
            params = parse_qsl(good.decode())
            wrong_key = {**headers, "X-Twilio-Signature": twilio_signature("another-token", url, params)}
            assert (await http.post(url, content=good, headers=wrong_key)).status_code == 403
            other_url = {**headers, "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url + "x", params)}
            assert (await http.post(url, content=good, headers=other_url)).status_code == 403
            hostile: dict[str, Any] = {**headers, "X-Twilio-Signature": b"\xe9\xff"}
            assert (await http.post(url, content=b"\x00\xff" * 100, headers=hostile)).status_code in (400, 403)
            job = await bridge.store.get(job_id)
            assert job is not None and job.state is JobState.NOTIFIED
            # the genuine one ends the job
            assert (await http.post(url, content=good, headers=headers)).status_code == 200
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.last_status == "5.7.1" and "30007" in (job.last_error or "")

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_telnyx_webhooks_replayed_late_or_badly_signed_are_refused(tmp_path: Path) -> None:
    provider = _pending("telnyx")
    assert isinstance(provider, FakeTelnyx)

    async def body(bridge: Bridge) -> None:
        job_id, message_id = await _notified(bridge)
        [sent] = provider.sent
        assert sent.callback_url is not None
        url = sent.callback_url
        fields = {"to": NUMBER, "type": "MMS", "from": FROM}
        delivered = provider.payload(message_id, fields, "delivered")
        async with httpx.AsyncClient() as http:
            # signed by the account's key, but ten minutes old: a replay of a captured webhook
            headers, stale = provider.event("message.finalized", delivered, url, at=time.time() - 600)
            assert (await http.post(url, content=stale, headers=headers)).status_code == 403
            # signed by another key
            stranger = Ed25519PrivateKey.generate()
            headers, fresh = provider.event("message.finalized", delivered, url)
            forged = {**headers, "telnyx-signature-ed25519": base64.b64encode(
                stranger.sign(headers["telnyx-timestamp"].encode() + b"|" + fresh)).decode()}  # fmt: skip
            assert (await http.post(url, content=fresh, headers=forged)).status_code == 403
            # the body changed after signing; the timestamp changed after signing; no headers at all
            tampered = fresh.replace(b'"delivered"', b'"delivery_failed"')
            assert (await http.post(url, content=tampered, headers=headers)).status_code == 403
            moved = {**headers, "telnyx-timestamp": str(int(headers["telnyx-timestamp"]) + 1)}
            assert (await http.post(url, content=fresh, headers=moved)).status_code == 403
            assert (await http.post(url, content=fresh)).status_code == 403
            hostile: dict[str, Any] = {**headers, "telnyx-signature-ed25519": b"not base64 \xe9"}
            assert (await http.post(url, content=fresh, headers=hostile)).status_code == 403
            job = await bridge.store.get(job_id)
            assert job is not None and job.state is JobState.NOTIFIED
            # the genuine one ends the job; the same event again is answered and changes nothing
            assert (await http.post(url, content=fresh, headers=headers)).status_code == 200
            job = await job_in(bridge, job_id, JobState.DELIVERED)
            failed = provider.payload(message_id, fields, "delivery_failed", "40012")
            assert (await http.post(url, content=fresh, headers=headers)).status_code == 200
            headers2, late_failure = provider.event("message.finalized", failed, url)
            assert (await http.post(url, content=late_failure, headers=headers2)).status_code == 200
        job = await bridge.store.get(job_id)
        assert job is not None and job.state is JobState.DELIVERED

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_bandwidth_callbacks_need_the_applications_credentials(tmp_path: Path) -> None:
    provider = _pending("bandwidth")
    assert isinstance(provider, FakeBandwidth)

    async def body(bridge: Bridge) -> None:
        job_id, message_id = await _notified(bridge)
        url = provider.callback_url
        message = {"id": message_id, "owner": FROM, "applicationId": BANDWIDTH_APP, "time": "2026-11-29T12:00:00Z",
                   "segmentCount": 1, "direction": "out", "to": [NUMBER], "from": FROM, "text": "", "tag": "",
                   "media": [], "priority": "default"}  # fmt: skip
        headers, good = provider.callback(message, "message-delivered", None)
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, content=good)).status_code == 401
            wrong = {**headers, "Authorization": "Basic " + base64.b64encode(b"bw-callbacks:guess").decode()}
            assert (await http.post(url, content=good, headers=wrong)).status_code == 401
            for hostile in (b"[" * 50_000, b'[{"type": "message-delivered"}]', b"\x00" * 10, good[:-7]):
                assert (await http.post(url, content=hostile, headers=headers)).status_code == 400
            job = await bridge.store.get(job_id)
            assert job is not None and job.state is JobState.NOTIFIED
            # found by the message id when the tag is not there
            assert (await http.post(url, content=good, headers=headers)).status_code == 200
        await job_in(bridge, job_id, JobState.DELIVERED)

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_callbacks_for_unknown_routes_and_messages_change_nothing(tmp_path: Path) -> None:
    provider = FakeTwilio()

    async def body(bridge: Bridge) -> None:
        base = f"http://127.0.0.1:{bridge.http_port}"
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{base}/rest/nosuch/status", content=b"a=b")).status_code == 404
            url = f"{base}/rest/tw/status?ref=0000"
            params = [("MessageSid", "SM00"), ("MessageStatus", "delivered"), ("AccountSid", TWILIO_SID)]
            headers = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params),
                       "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
            assert (await http.post(url, content=urlencode(params).encode(), headers=headers)).status_code == 200
            # another account's callback, even signed with our token, is not ours
            other = [("MessageSid", "SM00"), ("MessageStatus", "delivered"), ("AccountSid", "AC" + "f" * 32)]
            headers["X-Twilio-Signature"] = twilio_signature(TWILIO_TOKEN, url, other)
            assert (await http.post(url, content=urlencode(other).encode(), headers=headers)).status_code == 403
        assert not any((await bridge.store.status())["jobs"].values())

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_media_urls_serve_each_part_with_ranges_and_head_and_nothing_else(tmp_path: Path) -> None:
    provider = _pending("twilio")

    async def body(bridge: Bridge) -> None:
        job_id, _ = await _notified(bridge)
        job = await bridge.store.get(job_id)
        assert job is not None
        base = f"http://127.0.0.1:{bridge.http_port}/media"
        async with httpx.AsyncClient() as http:
            [sent] = provider.sent
            [(content_type, size)] = sent.media
            index = None
            for n in range(6):
                r = await http.get(f"{base}/{job.token}/{n}")
                if r.status_code == 200:
                    index = n
                    assert r.headers["content-type"] == content_type == "image/jpeg"
                    assert len(r.content) == size and r.content[:2] == b"\xff\xd8"
                else:
                    assert r.status_code == 404  # the SMIL and text parts are not media
            assert index is not None
            url = f"{base}/{job.token}/{index}"
            head = await http.head(url)
            assert head.status_code == 200 and int(head.headers["content-length"]) == size and head.content == b""
            part = await http.get(url, headers={"Range": "bytes=0-9"})
            assert part.status_code == 206 and len(part.content) == 10
            assert part.headers["content-range"] == f"bytes 0-9/{size}"
            assert (await http.get(url, headers={"Range": f"bytes={size}-"})).status_code == 416
            for bad in (f"{base}/{job.token[:-1]}x/{index}", f"{base}/{job.token}/-1", f"{base}/{job.token}/99999",
                        f"{base}/{job.token}/1e3", f"{base}/%00/{index}", f"{base}/{'a' * 5000}/1"):  # fmt: skip
                assert (await http.get(bad)).status_code in (404, 414, 431), bad
            # a job that ended failed serves nothing
            assert await bridge.store.cancel(job_id, now=time.time())
            await job_in(bridge, job_id, JobState.FAILED)
            assert (await http.get(url)).status_code == 404

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_bandwidth_with_oauth2_fetches_and_renews_its_token(tmp_path: Path) -> None:
    provider = FakeBandwidth(token_lifetime_s=2)
    keys = {"username": "", "password": "", "client_id": BANDWIDTH_CLIENT, "client_secret": BANDWIDTH_SECRET}

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        first = await send(bridge.port)
        await job_in(bridge, first, JobState.DELIVERED)
        assert provider.token_requests == 1
        await asyncio.sleep(2.1)  # the token expired
        second = await send(bridge.port, pictures=0)
        await job_in(bridge, second, JobState.DELIVERED)
        assert provider.token_requests == 2
        provider.tokens.clear()  # revoked: the API refuses it, a new one is fetched and the request sent again
        third = await send(bridge.port, pictures=0)
        await job_in(bridge, third, JobState.DELIVERED)
        assert provider.token_requests == 3 and len(provider.sent) == 3

    run(tmp_path, [provider], lambda: (rest_route(provider, **keys),), body)


def test_inbound_messages_are_answered_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    twilio, telnyx = FakeTwilio(), FakeTelnyx()

    async def body(bridge: Bridge) -> None:
        base = f"http://127.0.0.1:{bridge.http_port}"
        url = f"{base}/rest/tw/inbound"
        params = [("MessageSid", "SM1"), ("AccountSid", TWILIO_SID), ("From", NUMBER), ("To", FROM),
                  ("Body", "on my way"), ("NumMedia", "0")]  # fmt: skip
        headers = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        async with httpx.AsyncClient() as http:
            r = await http.post(url, content=urlencode(params).encode(), headers=headers)
            assert r.status_code == 200 and r.text.endswith("<Response></Response>")
            payload = {"id": "in-1", "direction": "inbound", "type": "SMS", "text": "ACK",
                       "from": {"phone_number": NUMBER}, "to": [{"phone_number": FROM, "status": "delivered"}],
                       "media": []}  # fmt: skip
            tx_url = f"{base}/rest/tx/status"
            h, b = telnyx.event("message.received", payload, tx_url)
            assert (await http.post(tx_url, content=b, headers=h)).status_code == 200
        inbound = [r.getMessage() for r in caplog.records if "inbound" in r.getMessage()]
        assert len(inbound) == 2 and all("4567" in line and NUMBER not in line for line in inbound)

    caplog.set_level(logging.INFO, logger="bridge.rest")
    run(tmp_path, [twilio, telnyx], lambda: (rest_route(twilio), rest_route(telnyx, prefixes=("+44",))), body)


def test_the_providers_budgets_hold_ten_media_and_their_sizes(tmp_path: Path) -> None:
    """A mail with twelve pictures: Twilio and Telnyx take ten (the rest named in the change notice)."""
    provider = FakeTelnyx()

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port, pictures=12)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED, job.last_error
        [sent] = provider.sent
        assert len(sent.media) == 10 and sum(size for _, size in sent.media) < 1_000_000
        stored = await bridge.store.message(job.message_id, with_raw=False)
        assert sum("at most 10 media parts" in c for c in stored.changes) == 2

    run(tmp_path, [provider], lambda: (rest_route(provider),), body)


def test_every_request_body_is_one_the_documents_take_even_with_hostile_text(tmp_path: Path) -> None:
    """NUL, CR, LF, quotes and non-BMP characters in the text reach each provider as valid requests."""
    providers = [FakeTwilio(), FakeTelnyx(), FakeBandwidth()]

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        hostile = 'line1\r\nline2 "quoted" & <b>x</b> \U0001f600 \u202e' + "é" * 3000
        jobs = [await send(bridge.port, text=hostile, pictures=1) for _ in range(3)]
        for job_id in jobs:
            job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
            assert job.state is JobState.DELIVERED, job.last_error
        for p in providers:
            for sent in p.sent:
                assert "line2" in sent.text and len(sent.text) <= (2048 if isinstance(p, FakeBandwidth) else 1600)

    def routes() -> tuple[RouteConfig, ...]:
        tw, tx, bw = providers
        return (rest_route(tw, prefixes=("+1201",)), rest_route(tx, prefixes=("+120",)), rest_route(bw))

    run(tmp_path, providers, routes, body)
    assert len(providers[0].sent) == 3


def test_status_callbacks_off_ends_the_job_when_the_provider_takes_it(tmp_path: Path) -> None:
    provider = FakeTwilio()

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED, JobState.FAILED)
        assert job.state is JobState.DELIVERED and provider.sent[0].callback_url is None
        async with httpx.AsyncClient() as http:  # no callbacks are taken for it either
            r = await http.post(f"http://127.0.0.1:{bridge.http_port}/rest/tw/status", content=b"a=b")
            assert r.status_code == 404

    run(tmp_path, [provider], lambda: (rest_route(provider, status_callbacks=False),), body)


def test_the_stand_ins_own_checks_can_fail() -> None:
    """The oracle itself: an event the document does not allow, and a request body with a misspelt field, fail."""
    telnyx = FakeTelnyx()
    with pytest.raises(AssertionError, match="OutboundMessageEvent"):
        telnyx.event("message.exploded", telnyx.payload("id-1", {"to": NUMBER}, "sent"), "http://x/y")
    from openapi_core.testing import MockRequest

    from tests.adapters.rest_providers import checker

    body = json.dumps({"to": NUMBER, "from": FROM, "text": "x", "media_url": ["http://x/1"]}).encode()
    request = MockRequest("https://api.telnyx.com", "post", "/v2/messages", data=body, content_type="application/json",
                          headers={"Authorization": "Bearer k", "Content-Type": "application/json"})  # fmt: skip
    assert checker("telnyx").unmarshal_request(request).errors

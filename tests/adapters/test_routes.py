"""Routes to operator MMSCs, driven through the whole bridge (mail in over SMTP) against a loopback MMSC
(`tests/adapters/mmsc_peer.py`): MM7 with every answer class, SOAP Faults, 500s, timeouts and dropped
connections; fallback routes; the MM7 callbacks (delivery reports, read replies, phones' messages) and their
authentication; EAIF and MM1 with the m-send-req read by tshark."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import logging
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from flufl.bounce import all_failures

from bridge.app import Bridge
from bridge.codec import mm7
from bridge.codec.mms import INSERT_ADDRESS, ResponseStatus, SendConf, SendReq, decode_pdu, encode_pdu
from bridge.config import Config, RouteConfig
from bridge.model import Handset, JobState
from tests.adapters.bridge_fixture import DOMAIN, both_stores, bridge_config, route_config, running
from tests.adapters.mmsc_peer import DROP, NS, STALL, Answer, Peer, fault, submit_rsp
from tests.adapters.test_mmsc import job_in, wait_for
from tests.codec.test_mm7 import validate
from tests.convert.helpers import mail, photo
from tests.oracle import dissect_pdu

SENDER = "camera@example.org"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"mmsc:cbpw").decode()}


def config(tmp: Path, *routes: RouteConfig) -> Config:
    return dataclasses.replace(bridge_config(tmp), routes=routes)


def mm7_route(peer: Peer, **kw: object) -> RouteConfig:
    base: dict[str, object] = {
        "name": "op",
        "kind": "mm7",
        "url": peer.url,
        "vasp_id": "vasp1",
        "vas_id": "email2mms",
        "service_code": "svc",
        "timeout_s": 1.0,
        "callback_username": "mmsc",
        "callback_password": "cbpw",
    }
    return route_config(**{**base, **kw})


async def send(port: int, *, notify: str | None = None, headers: dict[str, str] | None = None) -> str:
    raw = mail(
        "Someone at the door",
        subject="Door",
        attachments=[(photo(640, 480), "image/jpeg", "door.jpg")],
        headers=headers,
    )
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo(hostname="client.test")
    await c.mail(SENDER)
    await c.rcpt(f"12015554567@{DOMAIN}", options=[f"NOTIFY={notify}"] if notify else [])
    code, reply = await c.data(raw)
    await c.quit()
    assert code == 250, reply
    return reply.split()[-1] + "-0"


def outbox(tmp: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp / "outbox").glob("*.eml"))]


def run(make: Callable[[], Config], peer: Peer, body: Callable[[Bridge], Awaitable[None]]) -> None:
    """Start the peer, then the bridge configured by `make` (which may use the peer's URL)."""

    async def go() -> None:
        await peer.start()
        try:
            async with running(make()) as bridge:
                await body(bridge)
        finally:
            await peer.stop()

    asyncio.run(go())


def report(operation: str, message_id: str, status: str, **extra: str) -> bytes:
    import xml.etree.ElementTree as ET

    el = ET.Element(f"{{{NS}}}{operation}")
    for tag, value in {"MM7Version": "6.8.0", "MessageID": message_id, **extra, "MMStatus": status}.items():
        ET.SubElement(el, f"{{{NS}}}{tag}").text = value
    recipient = ET.SubElement(el, f"{{{NS}}}Recipient")
    ET.SubElement(recipient, f"{{{NS}}}Number").text = "+12015554567"
    return mm7.envelope("cb-1", NS, el)


@pytest.mark.usefixtures(both_stores.__name__)
def test_mm7_submit_then_delivery_report_gives_the_delivered_dsn(tmp_path: Path) -> None:
    peer = Peer(script=[submit_rsp(1000, "mmsc-77")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port, notify="SUCCESS")
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        assert (job.mmsc_id, job.route, job.last_status) == ("mmsc-77", "op", "4.0.0")
        [request] = peer.requests
        assert request.headers["SOAPAction"] == '""' and request.headers["Content-Type"].startswith("multipart/related")
        validate(tmp_path, request.headers["Content-Type"], request.body)
        sent = mm7.decode(request.body, request.headers["Content-Type"])
        assert sent.transaction_id == job_id and sent.fields["VASPID"] == "vasp1" and sent.fields["Subject"] == "Door"
        assert ("To", "+12015554567") in sent.addresses and sent.fields["DeliveryReport"] == "true"
        assert {a.content_type for a in sent.attachments} >= {"application/smil", "image/jpeg", "text/plain"}
        # the MMSC reports the delivery
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            r = await http.post(
                "/mm7/op",
                content=report("DeliveryReportReq", "mmsc-77", "Retrieved"),
                headers={**AUTH, "Content-Type": "text/xml"},
            )
            assert r.status_code == 200
            rsp = mm7.decode(r.content, r.headers["Content-Type"])
            assert (rsp.operation, rsp.status_code, rsp.transaction_id) == ("DeliveryReportRsp", 1000, "cb-1")
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert job.handset is Handset.ACKNOWLEDGED
        await wait_for(lambda: asyncio.sleep(0, result=len(outbox(tmp_path)) == 1))
        [dsn] = outbox(tmp_path)
        assert "Action: delivered" in dsn.as_string()

    run(lambda: config(tmp_path, mm7_route(peer)), peer, body)


def test_every_kind_of_trouble_is_retried_until_the_mmsc_takes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.worker")
    peer = Peer(
        script=[
            DROP,
            STALL,
            Answer(status=500, body=b"oops", content_type="text/plain"),
            fault(4002),
            submit_rsp(3000),
            submit_rsp(4006),
        ],
        default=submit_rsp(1000, "mmsc-9"),
    )

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.NOTIFIED)
        assert job.attempts == 7 and job.mmsc_id == "mmsc-9" and len(peer.requests) == 7
        statuses = [
            r.message.split("status=")[1].split()[0] for r in caplog.records if f"job={job_id} state=retry" in r.message
        ]
        assert statuses == ["4.4.2", "4.4.1", "4.4.2", "4.3.0", "4.3.0", "4.3.2"]
        for request in peer.requests:  # the same SubmitReq each time, valid each time
            assert mm7.decode(request.body, request.headers["Content-Type"]).transaction_id == job_id

    # the drop and the stall come after the request was sent: unknown outcomes, resent at once here (twice allowed)
    unknown = {"unknown_outcome_wait_s": 0.0, "unknown_outcome_resends": 2}
    run(lambda: config(tmp_path, mm7_route(peer, delivery_report=True, **unknown)), peer, body)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (fault(2002, "Address Error"), "5.1.3"),
        (submit_rsp(3002, text="Message rejected"), "5.7.1"),
        (Answer(status=400, body=b"bad"), "5.3.0"),
    ],
)
@pytest.mark.usefixtures(both_stores.__name__)
def test_permanent_answers_bounce(answer: Answer, status: str, tmp_path: Path) -> None:
    peer = Peer(script=[answer])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.last_status == status and len(peer.requests) == 1
        await wait_for(lambda: asyncio.sleep(0, result=len(outbox(tmp_path)) == 1))
        _, permanent = all_failures(outbox(tmp_path)[0])
        assert {p.decode() if isinstance(p, bytes) else p for p in permanent} == {f"12015554567@{DOMAIN}"}

    run(lambda: config(tmp_path, mm7_route(peer)), peer, body)


def test_a_temporary_failure_falls_over_to_the_fallback_route(tmp_path: Path) -> None:
    peer = Peer(default=Answer(status=503, body=b"busy"))
    spare = route_config(name="spare", kind="folder", folder=str(tmp_path / "spare"))
    local = route_config(name="local", kind="folder", folder=str(tmp_path / "local"), prefixes=("+44",))

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, JobState.DELIVERED)
        assert job.route == "spare" and (tmp_path / "spare" / f"{job_id}.mms").exists()
        assert len(peer.requests) == 1 and not (tmp_path / "local").exists()

    run(lambda: config(tmp_path, mm7_route(peer, prefixes=("+1201",), fallback="spare"), spare, local), peer, body)


@pytest.mark.usefixtures(both_stores.__name__)
def test_callbacks_are_authenticated_and_unknown_ids_refused(tmp_path: Path) -> None:
    peer = Peer(script=[submit_rsp(1000, "mmsc-5")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port)
        await job_in(bridge, job_id, JobState.NOTIFIED)
        xml = {"Content-Type": "text/xml"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            good = report("DeliveryReportReq", "mmsc-5", "Rejected")
            assert (await http.post("/mm7/op", content=good, headers=xml)).status_code == 401
            wrong = {"Authorization": "Basic " + base64.b64encode(b"mmsc:nope").decode(), **xml}
            assert (await http.post("/mm7/op", content=good, headers=wrong)).status_code == 401
            assert (await http.post("/mm7/nosuch", content=good, headers={**AUTH, **xml})).status_code == 404
            unknown = await http.post(
                "/mm7/op", content=report("DeliveryReportReq", "nope", "Retrieved"), headers={**AUTH, **xml}
            )
            assert unknown.status_code == 500 and mm7.decode(unknown.content, "text/xml").status_code == 2005
            broken = await http.post("/mm7/op", content=b"<env:Envelope", headers={**AUTH, **xml})
            assert broken.status_code == 400 and mm7.decode(broken.content, "text/xml").status_code == 2007
            job = await bridge.store.get(job_id)
            assert job is not None and job.state is JobState.NOTIFIED and job.handset is None
            assert (await http.post("/mm7/op", content=good, headers={**AUTH, **xml})).status_code == 200
        job = await job_in(bridge, job_id, JobState.FAILED)
        assert job.last_status == "5.7.1"
        # the report of a rejection reaches the sender as a bounce Mailman's scanner understands
        await wait_for(lambda: asyncio.sleep(0, result=len(outbox(tmp_path)) == 1))
        _, permanent = all_failures(outbox(tmp_path)[0])
        assert {p.decode() if isinstance(p, bytes) else p for p in permanent} == {f"12015554567@{DOMAIN}"}

    run(lambda: config(tmp_path, mm7_route(peer)), peer, body)


def test_callbacks_from_an_address_not_allowed_get_403(tmp_path: Path) -> None:
    peer = Peer()

    async def body(bridge: Bridge) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            r = await http.post("/mm7/op", content=report("DeliveryReportReq", "x", "Retrieved"), headers=AUTH)
            assert r.status_code == 403

    run(lambda: config(tmp_path, mm7_route(peer, callback_allow=("192.0.2.0/24",))), peer, body)


@pytest.mark.usefixtures(both_stores.__name__)
def test_read_reply_becomes_an_mdn_and_a_phone_reply_becomes_a_mail(tmp_path: Path) -> None:
    peer = Peer(script=[submit_rsp(1000, "mmsc-8")])

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None and bridge.http_port
        job_id = await send(bridge.port, headers={"Disposition-Notification-To": "Camera <camera@example.org>"})
        await job_in(bridge, job_id, JobState.NOTIFIED)
        sent = mm7.decode(peer.requests[0].body, peer.requests[0].headers["Content-Type"])
        assert sent.fields["ReadReply"] == "true"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bridge.http_port}") as http:
            r = await http.post(
                "/mm7/op",
                content=report("ReadReplyReq", "mmsc-8", "Read"),
                headers={**AUTH, "Content-Type": "text/xml"},
            )
            assert r.status_code == 200 and mm7.decode(r.content, "text/xml").operation == "ReadReplyRsp"
            boundary = "phone-reply"
            deliver = mm7.envelope(
                "cb-2",
                NS,
                _deliver_req(linked="mmsc-8", sender="+12015554567", subject="Re: Door", href="cid:reply"),
            )
            reply = (
                f"--{boundary}\r\nContent-Type: text/xml\r\nContent-ID: <soap>\r\n\r\n".encode()
                + deliver
                + f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <reply>\r\n\r\n".encode()
                + b"I'll open the door"
                + f"\r\n--{boundary}--\r\n".encode()
            )
            ct = f'multipart/related; boundary="{boundary}"; type="text/xml"; start="<soap>"'
            r = await http.post("/mm7/op", content=reply, headers={**AUTH, "Content-Type": ct})
            assert r.status_code == 200 and mm7.decode(r.content, "text/xml").operation == "DeliverRsp"
        mails = outbox(tmp_path)
        mdn = next(m for m in mails if m.get_content_type() == "multipart/report")
        assert mdn.get_param("report-type") == "disposition-notification" and mdn["To"] == "<camera@example.org>"
        assert "Disposition: automatic-action/MDN-sent-automatically; displayed" in mdn.as_string()
        assert "Original-Message-ID: <snap-1@example.org>" in mdn.as_string()
        forwarded = next(m for m in mails if m.get_content_type() != "multipart/report")
        assert forwarded["From"] == f"12015554567@{DOMAIN}" and forwarded["To"] == SENDER
        assert forwarded["Subject"] == "Re: Door" and forwarded["In-Reply-To"] == "<snap-1@example.org>"
        assert "I'll open the door" in forwarded.get_payload(decode=True).decode()  # type: ignore[union-attr]

    run(lambda: config(tmp_path, mm7_route(peer)), peer, body)


def _deliver_req(*, linked: str, sender: str, subject: str, href: str) -> object:
    import xml.etree.ElementTree as ET

    el = ET.Element(f"{{{NS}}}DeliverReq")
    ET.SubElement(el, f"{{{NS}}}MM7Version").text = "6.8.0"
    ET.SubElement(el, f"{{{NS}}}LinkedID").text = linked
    s = ET.SubElement(el, f"{{{NS}}}Sender")
    ET.SubElement(s, f"{{{NS}}}Number").text = sender
    ET.SubElement(el, f"{{{NS}}}Subject").text = subject
    ET.SubElement(el, f"{{{NS}}}Content", {"href": href})
    return el


@pytest.mark.parametrize(
    ("http_status", "state", "status"), [(204, JobState.DELIVERED, "2.0.0"), (400, JobState.FAILED, "5.3.0")]
)
def test_eaif_posts_the_m_send_req(http_status: int, state: JobState, status: str, tmp_path: Path) -> None:
    peer = Peer(script=[Answer(status=http_status, headers=(("X-NOKIA-MMSC-Message-Id", "eaif-1"),))])

    def route() -> RouteConfig:
        return route_config(name="nokia", kind="eaif", url=f"http://127.0.0.1:{peer.port}/eaif", sender_address="12345")

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)
        job = await job_in(bridge, job_id, state)
        assert job.last_status == status
        [request] = peer.requests
        h = request.headers
        assert (h["X-NOKIA-MMSC-To"], h["X-NOKIA-MMSC-From"], h["X-NOKIA-MMSC-Message-Type"]) == (
            "+12015554567",
            "12345",
            "MultiMediaMessage",
        )
        assert h["X-NOKIA-MMSC-Message-Id"] == job_id and h["Content-Type"] == "application/vnd.wap.mms-message"
        pdu = decode_pdu(request.body)
        assert isinstance(pdu, SendReq) and pdu.transaction_id == job_id and pdu.to == ("+12015554567/TYPE=PLMN",)
        seen = dissect_pdu(request.body)
        assert not seen.problems and seen.first("mmse.transaction_id") == job_id
        if state is JobState.DELIVERED:
            assert job.mmsc_id == "eaif-1"

    run(lambda: config(tmp_path, route()), peer, body)


@pytest.mark.parametrize(
    ("response", "state", "status"),
    [
        (ResponseStatus.OK, JobState.DELIVERED, "2.0.0"),
        (ResponseStatus.ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED, JobState.FAILED, "5.1.1"),
        (ResponseStatus.ERROR_TRANSIENT_NETWORK_PROBLEM, JobState.QUEUED, "4.4.2"),
    ],
)
def test_mm1_submits_through_the_proxy_as_a_handset(
    response: ResponseStatus, state: JobState, status: str, tmp_path: Path
) -> None:
    conf = SendConf(
        transaction_id="x", response_status=response, message_id="mm1-id" if response == ResponseStatus.OK else None
    )
    peer = Peer(
        script=[Answer(body=encode_pdu(conf), content_type="application/vnd.wap.mms-message")],
        default=Answer(status=503),
    )

    async def go() -> None:
        await peer.start()
        try:
            route = route_config(
                name="handset",
                kind="mm1",
                url="http://mmsc.operator.invalid/mms",
                proxy=f"http://127.0.0.1:{peer.port}",
            )
            async with running(config(tmp_path, route)) as bridge:
                assert bridge.port is not None
                job_id = await send(bridge.port)

                async def settled() -> bool:
                    job = await bridge.store.get(job_id)
                    return job is not None and job.attempts >= 1 and job.state is state

                await wait_for(settled)
                job = await bridge.store.get(job_id)
                assert job is not None and job.last_status == status
                request = peer.requests[0]
                assert request.target == "http://mmsc.operator.invalid/mms"  # the proxy saw the absolute target
                pdu = decode_pdu(request.body)
                assert (
                    isinstance(pdu, SendReq) and pdu.sender == INSERT_ADDRESS and pdu.to == ("+12015554567/TYPE=PLMN",)
                )
                seen = dissect_pdu(request.body)
                assert not seen.problems and seen.first("mmse.transaction_id") == job_id
                if state is JobState.DELIVERED:
                    assert job.mmsc_id == "mm1-id"
        finally:
            await peer.stop()

    asyncio.run(go())


def test_each_route_has_its_content_budget_and_a_mail_for_two_gets_the_strictest(tmp_path: Path) -> None:
    routes = (
        route_config(
            name="small", kind="folder", folder=str(tmp_path / "small"), prefixes=("+44",), profile="image-basic"
        ),
        route_config(name="big", kind="folder", folder=str(tmp_path / "big"), profile="megapixel"),
    )

    async def go() -> None:
        async with running(config(tmp_path, *routes)) as bridge:
            assert bridge.port is not None
            raw = mail("Look", subject="Big", attachments=[(photo(2400, 1800), "image/jpeg", "big.jpg")])
            c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=30, start_tls=False)
            await c.connect()
            await c.sendmail(SENDER, [f"12015554567@{DOMAIN}"], raw)
            await c.sendmail(SENDER, [f"12015554567@{DOMAIN}", f"+442079460958@{DOMAIN}"], raw)
            await c.quit()

            async def all_delivered() -> bool:
                jobs = await bridge.store.list()
                return len(jobs) == 3 and all(j.state is JobState.DELIVERED for j in jobs)

            await wait_for(all_delivered)
            sizes: dict[str, list[int]] = {}
            for job in await bridge.store.list():
                stored = await bridge.store.message(job.message_id)
                sizes.setdefault(job.message_id, []).append(len(stored.mms))
                assert job.route == ("small" if job.recipient.e164.startswith("+44") else "big")
            alone, shared = sorted(sizes.values(), key=len)
            assert alone[0] > 100 * 1024  # megapixel: the photo keeps a size worth seeing
            assert shared[0] <= 30 * 1024  # image-basic bounds the mail that also goes to +44
            shared_id = next(message_id for message_id, v in sizes.items() if len(v) == 2)
            pdu = decode_pdu((await bridge.store.message(shared_id)).mms)
            assert isinstance(pdu, SendReq)
            assert all(p.content_type.media_type in ("image/jpeg", "text/plain", "application/smil") for p in pdu.parts)

    asyncio.run(go())


def test_mm7_over_tls_trusts_the_configured_ca_only(tmp_path: Path) -> None:
    cert, key = tmp_path / "mmsc.pem", tmp_path / "mmsc.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=mmsc.test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    peer = Peer(tls=tls, default=submit_rsp(1000, "tls-1"))

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        trusted = await send(bridge.port)
        job = await job_in(bridge, trusted, JobState.DELIVERED, JobState.FAILED)
        assert job.route == "op" and job.mmsc_id == "tls-1" and job.state is JobState.DELIVERED

    run(lambda: config(tmp_path, mm7_route(peer, ca_file=str(cert), delivery_report=False)), peer, body)

    untrusted = Peer(tls=tls, default=submit_rsp(1000, "tls-2"))

    async def refused(bridge: Bridge) -> None:
        assert bridge.port is not None
        job_id = await send(bridge.port)

        async def tried() -> bool:
            job = await bridge.store.get(job_id)
            return job is not None and job.attempts >= 1

        await wait_for(tried)
        job = await bridge.store.get(job_id)
        assert job is not None and job.state is JobState.QUEUED and job.last_status == "4.4.1"
        assert "certificate" in (job.last_error or "").lower() and not untrusted.requests

    run(lambda: config(tmp_path / "b", mm7_route(untrusted)), untrusted, refused)

"""MM7 sans I/O: every SubmitReq we build passes ../shared/tools/validators/validate_mm7 (MIME structure, SOAP
envelope against the SOAP 1.1 XSD, TransactionID, cid: references) for each schema release and keeps the TS
23.140 element order; the MMSC messages of ../shared/mms-vectors/mm7 (instantcom-mm7's samples) parse; every
status code has a verdict."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.codec import mm7
from bridge.codec.multipart import BodyPart
from bridge.codec.smil import SMIL_MEDIA_TYPE
from bridge.codec.tables import Charset
from bridge.codec.wsp import ContentType
from bridge.errors import DecodeError, EncodeError
from tests.paths import SHARED

VALIDATOR = SHARED / "tools" / "validators" / "validate_mm7"
VECTORS = SHARED / "mms-vectors" / "mm7"
TEXT = ContentType(media_type="text/plain", charset=Charset.UTF_8)
PARTS = [
    BodyPart(content_type=TEXT, data="Grüße".encode(), content_location="text1.txt"),
    BodyPart(
        content_type=ContentType(media_type="image/jpeg"),
        data=b"\xff\xd8\xff\xe0" + bytes(200),
        content_location="image1.jpg",
    ),
    BodyPart(
        content_type=ContentType(media_type=SMIL_MEDIA_TYPE),
        data=b'<smil><body><par><img src="image1.jpg"/><text src="text1.txt"/></par></body></smil>',
        content_location="smil.xml",
        content_id="<smil>",
    ),
]


def submit(release: str, **kw: object) -> tuple[str, bytes]:
    req = mm7.SubmitReq(
        transaction_id="q1-0",
        release=release,
        recipients=("+12015554567",),
        vasp_id="vasp",
        vas_id="email2mms",
        sender_address="camera@example.org",
        service_code="svc",
        timestamp=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        expiry=timedelta(days=2),
        delivery_report=True,
        read_reply=True,
        priority="Normal",
        subject="Door",
        **kw,  # type: ignore[arg-type]
    )
    return mm7.encode_submit_req(req, PARTS, boundary="b-1", envelope_id="soap-1@x", content_id="content-1@x")


def validate(tmp: Path, content_type: str, body: bytes) -> str:
    request = (
        b'POST /mm7 HTTP/1.1\r\nHost: mmsc.example.net\r\nSOAPAction: ""\r\n'
        + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    path = tmp / "submit.http"
    path.write_bytes(request)
    run = subprocess.run(
        [str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"VALIDATORS_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    # exit 3 is INCOMPLETE: everything checked passed, but no 3GPP XSD is available to validate the body
    assert run.returncode in (0, 3), run.stdout + run.stderr
    assert "FAIL" not in run.stdout, run.stdout
    return run.stdout


@pytest.mark.parametrize("release", list(mm7.MM7_RELEASES))
def test_submit_req_passes_the_validator_for_every_release(release: str, tmp_path: Path) -> None:
    content_type, body = submit(release)
    out = validate(tmp_path, content_type, body)
    assert f"MM7 operation SubmitReq in namespace {release}" in out
    assert "Content href cid:content-1@x resolves" in out
    message = mm7.decode(body, content_type)
    assert message.operation == "SubmitReq" and message.release == release
    assert message.fields["MM7Version"] == mm7.MM7_RELEASES[release] and message.transaction_id == "q1-0"


def _children(body: bytes, content_type: str) -> list[str]:
    xml = body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--b-1", 1)[0]
    root = ET.fromstring(xml)
    [op] = list(root.find(f"{{{mm7.SOAP_ENV}}}Body") or [])
    return [child.tag.rsplit("}", 1)[1] for child in op]


def test_submit_req_children_follow_the_schema_order() -> None:
    content_type, body = submit("REL-6-MM7-1-4", linked_id="L1")
    children = _children(body, content_type)
    order = [name for name in mm7.SUBMIT_REQ_ORDER if name in children]
    assert children == order
    assert children[:3] == ["MM7Version", "SenderIdentification", "Recipients"] and children[-1] == "Content"
    assert {"ServiceCode", "LinkedID", "TimeStamp", "ExpiryDate", "DeliveryReport", "ReadReply", "Subject"} <= set(
        children
    )


def test_the_content_is_multipart_related_with_the_smil_first() -> None:
    content_type, body = submit("REL-5-MM7-1-2")
    message = mm7.decode(body, content_type)
    assert [a.content_type for a in message.attachments] == ["application/smil", "text/plain", "image/jpeg"]
    assert message.attachments[1].data == "Grüße".encode() and message.attachments[2].data == PARTS[1].data
    assert b'type="application/smil"; start="<smil>"' in body
    assert ("To", "+12015554567") in message.addresses and ("SenderAddress", "camera@example.org") in message.addresses
    assert message.fields["ExpiryDate"] == "P2D" and message.fields["ReadReply"] == "true"


def test_durations() -> None:
    assert [mm7.duration(timedelta(seconds=s)) for s in (0, 59, 86_400, 90_061)] == [
        "P0D",
        "PT59S",
        "P1D",
        "P1DT3661S",
    ]


def test_bad_requests_are_refused() -> None:
    with pytest.raises(EncodeError, match="release"):
        mm7.namespace("REL-9-MM7-9-9")
    with pytest.raises(EncodeError, match="without content"):
        mm7.encode_submit_req(
            mm7.SubmitReq(transaction_id="t", release="REL-6-MM7-1-4", recipients=("+1555",)),
            [],
            boundary="b",
            envelope_id="e",
            content_id="c",
        )


def test_the_samples_parse() -> None:
    rsp = mm7.decode((VECTORS / "submit-rsp.xml").read_bytes(), "text/xml")
    assert (rsp.operation, rsp.status_code, rsp.fields["MessageID"]) == ("SubmitRsp", 1000, "041502073667")
    assert rsp.transaction_id == "vas00001-sub"
    for name, code in (("fault.xml", 4002), ("fault_02.xml", 2002)):
        fault = mm7.decode((VECTORS / name).read_bytes(), "text/xml")
        assert fault.operation == "Fault" and fault.status_code == code and fault.fault
    assert mm7.classify(2002) == (mm7.Verdict.PERMANENT, "5.1.3")
    raw = (VECTORS / "deliver-req-post.txt").read_bytes()
    head, body = raw.split(b"\n\n", 1) if b"\r\n\r\n" not in raw else raw.split(b"\r\n\r\n", 1)
    content_type = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.splitlines()
        if line.lower().startswith(b"content-type")
    )
    deliver = mm7.decode(body, content_type)
    assert deliver.operation == "DeliverReq" and deliver.fields["LinkedID"] == "wthr8391"
    assert ("Sender", "97254265781@OMMS.com") in deliver.addresses
    assert [a.data.strip() for a in deliver.attachments] == [b"Los Angeles, Calif, USA"]


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("deliver-req[0-9].txt")))
def test_the_deliver_samples_parse(name: str) -> None:
    raw = (VECTORS / name).read_bytes()
    first = raw.lstrip().split(b"\n", 1)[0].strip()
    boundary = first.removeprefix(b"--").decode()
    message = mm7.decode(raw, f'multipart/related; boundary="{boundary}"; type="text/xml"')
    assert message.operation == "DeliverReq" and message.transaction_id
    assert message.fields["Content"].startswith("cid:") and message.attachments
    assert all(a.data for a in message.attachments)


def test_every_status_code_has_a_verdict_and_unknown_codes_go_by_class() -> None:
    for code in mm7.StatusCode:
        verdict, status = mm7.STATUS_CODES[code]
        assert status[0] == {"success": "2", "temporary": "4", "permanent": "5"}[verdict]
    assert mm7.classify(1999)[0] is mm7.Verdict.SUCCESS
    assert mm7.classify(2999) == (mm7.Verdict.PERMANENT, "5.3.0")
    assert mm7.classify(3999)[0] is mm7.Verdict.TEMPORARY and mm7.classify(4999)[0] is mm7.Verdict.TEMPORARY


def test_hostile_or_broken_xml_is_a_decode_error() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    for body in (bomb, b"<env:Envelope", b"<a/>", b""):
        with pytest.raises(DecodeError):
            mm7.decode(body, "text/xml")
    with pytest.raises(DecodeError, match="multipart/related"):
        mm7.decode(b"x", "application/json")


def test_our_answers_and_faults_parse_back() -> None:
    rsp = mm7.encode_response("DeliveryReportRsp", release="REL-6-MM7-1-4", transaction_id="t9")
    back = mm7.decode(rsp, "text/xml")
    assert (back.operation, back.status_code, back.transaction_id) == ("DeliveryReportRsp", 1000, "t9")
    fault = mm7.decode(mm7.encode_fault(release="REL-5-MM7-1-0", transaction_id="t", code=2005, text="x"), "text/xml")
    assert (fault.operation, fault.status_code) == ("Fault", 2005)

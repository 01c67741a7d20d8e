"""WAP Push: the WSP push PDU, SMS segmentation and reassembly, and the real operator pushes."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codec.mms import MessageClass, NotificationInd, decode_pdu, encode_pdu
from bridge.codec.tables import PushApplicationId
from bridge.codec.wap_push import (
    decode_tpdu,
    decode_user_data,
    decode_wsp_push,
    encode_wsp_push,
    reassemble,
    segment_push,
)
from bridge.errors import DecodeError, EncodeError
from tests.oracle import dissect_push_segments
from tests.paths import VECTORS

WAP_PUSH_VECTORS = VECTORS / "wap-push"

# (WSP push body, transaction id) -> the push PDU, from WAP-230-WSP 8.2.4.1: TID, 0x06 Push, HeadersLen 3,
# 0xBE application/vnd.wap.mms-message, 0xAF X-Wap-Application-Id, 0x84 x-wap-application:mms.ua
PUSH_CASES = [
    (b"\x8c\x82", 0, "000603beaf848c82"),
    (b"", 0xFF, "ff0603beaf84"),
]


@pytest.mark.parametrize(("body", "tid", "hexstr"), PUSH_CASES)
def test_wsp_push_encode(body: bytes, tid: int, hexstr: str) -> None:
    assert encode_wsp_push(body, transaction_id=tid).hex() == hexstr


@pytest.mark.parametrize(("body", "tid", "hexstr"), PUSH_CASES)
def test_wsp_push_decode(body: bytes, tid: int, hexstr: str) -> None:
    push = decode_wsp_push(bytes.fromhex(hexstr))
    assert push.transaction_id == tid
    assert push.content_type.media_type == "application/vnd.wap.mms-message"
    assert push.application_id is PushApplicationId.MMS_UA
    assert bytes(push.body) == body


def test_one_sms_has_only_the_port_ie() -> None:
    push = bytes(range(133))
    [ud] = segment_push(push, reference=9)
    assert ud[:7].hex() == "0605040b8423f0"
    assert ud[7:] == push and len(ud) == 140


def test_two_sms_add_the_concatenation_ie_and_128_octets_each() -> None:
    push = bytes(range(134))
    uds = segment_push(push, reference=9)
    assert [ud[:12].hex() for ud in uds] == ["0b05040b8423f00003090201", "0b05040b8423f00003090202"]
    assert [len(ud) for ud in uds] == [140, 18]
    assert reassemble(uds) == push


def test_segment_limits() -> None:
    with pytest.raises(EncodeError, match="over 255"):
        segment_push(bytes(128 * 255 + 1), reference=1)
    assert len(segment_push(bytes(128 * 255), reference=1)) == 255
    with pytest.raises(EncodeError):
        segment_push(b"x", reference=256)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=2000), st.integers(0, 255), st.randoms())
def test_reassembly_in_any_order(push: bytes, ref: int, rnd: object) -> None:
    uds = segment_push(push, reference=ref)
    assert all(len(ud) <= 140 for ud in uds)
    rnd.shuffle(uds)  # type: ignore[attr-defined]
    assert reassemble(uds) == push


def _two() -> list[bytes]:
    return segment_push(bytes(200), reference=5)


@pytest.mark.parametrize(
    ("uds", "expected"),
    [
        ([], "at least one"),
        (_two()[:1], "missing [2]"),
        ([_two()[0], _two()[0]], "sequence number 1 twice"),
        ([_two()[0], segment_push(bytes(200), reference=6)[1]], "reference 6"),
        ([_two()[0], segment_push(bytes(300), reference=5)[1]], "of 3"),
        ([_two()[0], bytes.fromhex("0b05040b8523f00003050202") + b"x"], "ports differ"),
        ([bytes.fromhex("0b05040b8423f00003050203")], "sequence 1..total"),
        ([bytes.fromhex("0a05040b8423f000020502")], "concatenation IE"),
        ([bytes(141)], "at most 140"),
    ],
)
def test_reassembly_checks(uds: list[bytes], expected: str) -> None:
    with pytest.raises(DecodeError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        reassemble(uds)


def _vector_segments(name: str) -> list[bytes]:
    lines = (WAP_PUSH_VECTORS / name).read_text().split()
    return [bytes(decode_tpdu(bytes.fromhex(line), smsc_prefix=True).user_data) for line in lines]


@pytest.mark.parametrize("name", ["o2-notification-a.tpdu-smsc.hex", "o2-notification-b.tpdu-smsc.hex"])
def test_operator_mms_notifications_decode_as_wireshark_reads_them(name: str) -> None:
    uds = _vector_segments(name)
    seen = dissect_push_segments(uds)
    assert {"gsm_sms", "wsp", "mmse"} <= seen.protocols
    push = decode_wsp_push(reassemble(reversed(uds)))
    assert push.content_type.media_type == seen.first("wsp.header.content_type")
    pdu = decode_pdu(push.body)
    assert isinstance(pdu, NotificationInd)
    assert pdu.transaction_id == seen.first("mmse.transaction_id")
    assert pdu.content_location == seen.first("mmse.content_location")
    assert str(pdu.message_size) == seen.first("mmse.message_size")
    assert pdu.sender == seen.first("mmse.from")
    assert segment_push(reassemble(uds), reference=0)  # and it can be sent on again


def test_a_push_that_is_not_mms_is_told_apart() -> None:
    push = decode_wsp_push(reassemble(_vector_segments("vodafone-si-not-mms.tpdu-smsc.hex")))
    assert push.content_type.media_type == "application/vnd.wap.sic"


def test_our_notification_push_fits_one_sms_without_from_and_subject() -> None:
    notification = NotificationInd(
        transaction_id="AbCdEfGhIjKlMnOpQrStUv",
        message_class=MessageClass.PERSONAL,
        message_size=300_000,
        expiry=timedelta(days=2),
        content_location="http://mms.example.net/m/AbCdEfGhIjKlMnOpQrStUv",
    )
    assert len(segment_push(encode_wsp_push(encode_pdu(notification)), reference=1)) == 1


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=160))
def test_fuzz_push_decoders(data: bytes) -> None:
    for decode in (decode_wsp_push, decode_user_data, lambda d: reassemble([d]), decode_tpdu):
        with contextlib.suppress(DecodeError):
            decode(data)

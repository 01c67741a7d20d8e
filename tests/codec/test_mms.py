"""MMS PDUs: a table of (PDU, hex) cases written from OMA-MMS-ENC drives encode and decode; Hypothesis round
trips every PDU type; mandatory headers and malformed input are checked."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codec import mms
from bridge.codec.mms import (
    INSERT_ADDRESS,
    AcknowledgeInd,
    ContentClass,
    DeliveryInd,
    MessageClass,
    MmsVersion,
    NotificationInd,
    NotifyRespInd,
    ReadOrigInd,
    ReadStatus,
    ResponseStatus,
    RetrieveConf,
    SendConf,
    SendReq,
    Status,
    YesNo,
    decode_pdu,
    encode_pdu,
)
from bridge.codec.multipart import BodyPart, RawHeader
from bridge.codec.tables import Charset
from bridge.codec.wsp import ContentType
from bridge.errors import DecodeError, EncodeError
from tests.codec.strategies import PDUS

DATE = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
DATE_HEX = int(DATE.timestamp()).to_bytes(4, "big").hex()
PHONE = "+12015554567/TYPE=PLMN"
PHONE_HEX = PHONE.encode().hex() + "00"
RELATED = ContentType(
    media_type="application/vnd.wap.multipart.related",
    params=(("start", "<s>"), ("type", "application/smil")),
)
# Value-length 0x18: 0xB3 related, 0x8A Start "<s>", 0x89 Type "application/smil"
RELATED_HEX = "18" + "b3" + "8a3c733e00" + "89" + b"application/smil".hex() + "00"

# Each hex string is written field by field from OMA-MMS-ENC 1.3 section 7 (codes in the comments).
PDU_CASES: list[tuple[str, mms.Pdu, str]] = [
    (
        "m-notifyresp-ind",
        NotifyRespInd(
            transaction_id="T1", status=Status.RETRIEVED, report_allowed=YesNo.NO, mms_version=MmsVersion.V1_2
        ),
        "8c83985431008d9295819181",
    ),
    (
        "m-acknowledge-ind",
        AcknowledgeInd(transaction_id="T1", report_allowed=YesNo.YES, mms_version=MmsVersion.V1_0),
        "8c85985431008d909180",
    ),
    (
        "m-send-conf",
        SendConf(transaction_id="T1", response_status=ResponseStatus.OK, message_id="M1"),
        "8c81985431008d9392808b4d3100",
    ),
    (
        "m-send-conf transient failure with text",
        SendConf(
            transaction_id="T1",
            response_status=ResponseStatus.ERROR_TRANSIENT_NETWORK_PROBLEM,
            response_text="busy",
        ),
        "8c81985431008d9392c393" + b"busy".hex() + "00",
    ),
    (
        "m-notification-ind, relative expiry, Message-Size as a Long-integer",
        NotificationInd(
            transaction_id="T1",
            message_class=MessageClass.PERSONAL,
            message_size=1000,
            expiry=timedelta(hours=1),
            content_location="http://a/b",
            mms_version=MmsVersion.V1_2,
        ),
        # 8A Class Personal; 8E Long-integer 2 octets 0x03E8; 88 len 4, relative (0x81), Long-integer 0x0E10
        "8c82985431008d928a808e0203e8880481020e1083" + b"http://a/b".hex() + "00",
    ),
    (
        "m-notification-ind, From, UTF-8 Subject, absolute expiry, Content-Class",
        NotificationInd(
            transaction_id="T1",
            sender=PHONE,
            subject="é",
            message_class=MessageClass.INFORMATIONAL,
            message_size=5,
            expiry=DATE,
            content_location="u",
            content_class=ContentClass.IMAGE_RICH,
        ),
        # 89 From: value-length, address-present 0x80, text; 96 Subject: len 5, UTF-8 0xEA, quote 7F, é, NUL
        "8c82"
        "98543100"
        "8d93"
        "89" + f"{len(PHONE) + 2:02x}" + "80" + PHONE_HEX + "96"
        "05ea7fc3a900"
        "8a82"
        "8e0105"
        "88"
        "0680"
        "04" + DATE_HEX + "837500"
        "ba82",
    ),
    (
        "m-delivery-ind",
        DeliveryInd(message_id="M1", to=(PHONE,), date=DATE, status=Status.RETRIEVED),
        "8c868d938b4d310097" + PHONE_HEX + "8504" + DATE_HEX + "9581",
    ),
    (
        "m-read-orig-ind",
        ReadOrigInd(message_id="M1", to=(PHONE,), sender="a@b.c", date=DATE, read_status=ReadStatus.READ),
        "8c888d938b4d310097" + PHONE_HEX + "89078061406 22e6300".replace(" ", "") + "8504" + DATE_HEX + "9b80",
    ),
    (
        "m-send-req with insert-address From and one text part",
        SendReq(
            transaction_id="T1",
            sender=INSERT_ADDRESS,
            to=("+1/TYPE=PLMN",),
            content_type=RELATED,
            parts=(
                BodyPart(
                    content_type=ContentType(media_type="text/plain", charset=Charset.UTF_8),
                    data=b"hi",
                    content_id="<t>",
                    content_location="t.txt",
                ),
            ),
        ),
        # 89 01 81 = From, insert-address; 84 Content-Type last, then 1 entry: HeadersLen 0x11, DataLen 2,
        # Content-Type text/plain charset UTF-8, C0 Content-ID quoted "<t>", 8E Content-Location "t.txt", data
        "8c80"
        "98543100"
        "8d93"
        "890181"
        "97" + b"+1/TYPE=PLMN".hex() + "00" + "84" + RELATED_HEX + "01"
        "11"
        "02"
        "038381ea"
        "c0223c743e00"
        "8e742e74787400"
        "6869",
    ),
    (
        "m-retrieve-conf with Date and an empty mixed body",
        RetrieveConf(
            date=DATE,
            content_type=ContentType(media_type="application/vnd.wap.multipart.mixed"),
            message_id="M1",
            sender=PHONE,
        ),
        "8c848d938b4d31008504" + DATE_HEX + "89" + f"{len(PHONE) + 2:02x}" + "80" + PHONE_HEX + "84a300",
    ),
]


@pytest.mark.parametrize(("name", "pdu", "hexstr"), PDU_CASES, ids=[c[0] for c in PDU_CASES])
def test_encode_table(name: str, pdu: mms.Pdu, hexstr: str) -> None:
    assert encode_pdu(pdu).hex() == hexstr


@pytest.mark.parametrize(("name", "pdu", "hexstr"), PDU_CASES, ids=[c[0] for c in PDU_CASES])
def test_decode_table(name: str, pdu: mms.Pdu, hexstr: str) -> None:
    assert decode_pdu(bytes.fromhex(hexstr)) == pdu


@pytest.mark.parametrize("kind", sorted(PDUS))
def test_round_trip_every_pdu_type(kind: str) -> None:
    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(PDUS[kind])
    def check(pdu: mms.Pdu) -> None:
        data = encode_pdu(pdu)
        decoded = decode_pdu(data)
        assert decoded == pdu
        assert encode_pdu(decoded) == data

    check()


def test_header_order_type_tid_version_first_content_type_last() -> None:
    pdu = SendReq(transaction_id="T9", to=(PHONE,), subject="s", content_type=RELATED, date=DATE)
    data = encode_pdu(pdu)
    assert data[:2] == b"\x8c\x80"
    assert data[2:6] == b"\x98T9\x00" and data[6] == 0x8D
    ct_at = data.index(b"\x84" + bytes.fromhex(RELATED_HEX))
    # nothing but the multipart body (an empty one: 0 entries) follows Content-Type
    assert data[ct_at + 1 + len(bytes.fromhex(RELATED_HEX)) :] == b"\x00"


NOTIFICATION = {
    "transaction_id": "T1",
    "message_class": MessageClass.PERSONAL,
    "message_size": 10,
    "expiry": timedelta(days=2),
    "content_location": "http://x/m/1",
}


@pytest.mark.parametrize("missing", sorted(NOTIFICATION))
def test_notification_without_a_mandatory_header_cannot_be_built(missing: str) -> None:
    kwargs = {k: v for k, v in NOTIFICATION.items() if k != missing}
    with pytest.raises(TypeError):
        NotificationInd(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("empty", ["transaction_id", "content_location", "message_class"])
def test_notification_with_an_empty_mandatory_header_cannot_be_built(empty: str) -> None:
    with pytest.raises(EncodeError, match="mandatory"):
        NotificationInd(**{**NOTIFICATION, empty: ""})  # type: ignore[arg-type]


def test_notification_missing_expiry_on_the_wire_is_a_decode_error() -> None:
    data = bytes.fromhex("8c82985431008d928a808e0203e883" + b"http://a/b".hex() + "00")
    with pytest.raises(DecodeError, match="X-Mms-Expiry"):
        decode_pdu(data)


def test_message_size_is_a_long_integer_even_when_small() -> None:
    data = encode_pdu(NotificationInd(**{**NOTIFICATION, "message_size": 3}))  # type: ignore[arg-type]
    assert b"\x8e\x01\x03" in data


def test_unknown_and_application_headers_survive_a_round_trip() -> None:
    pdu = AcknowledgeInd(
        transaction_id="T",
        extra_headers=(
            RawHeader(name="X-Mms-0x7E", code=0x7E, value=b"\x80"),
            RawHeader(name="X-Custom", value=b"value\x00"),
        ),
    )
    data = encode_pdu(pdu)
    assert decode_pdu(data) == pdu


def test_a_header_this_type_does_not_carry_is_kept_raw() -> None:
    # X-Mms-Priority (0x8F) is not an m-acknowledge-ind header: it is kept, not lost or misread
    data = bytes.fromhex("8c85985431008d938f82")
    pdu = decode_pdu(data)
    assert pdu.extra_headers == (RawHeader(name="X-Mms-Priority", code=0x0F, value=b"\x82"),)
    assert encode_pdu(pdu) == data


@pytest.mark.parametrize(
    ("hexstr", "offset", "expected"),
    [
        ("", 0, "X-Mms-Message-Type"),
        ("8c", 0, "X-Mms-Message-Type"),
        ("8c99", 1, "supported X-Mms-Message-Type"),
        ("8c8598", 3, "the data ends here"),
        ("8c859854008d05", 6, "short-integer"),
        ("8c859854008d938c85", 7, "only once"),
        ("8c859854008d9305", 7, "header field"),
        ("8c829854008d938a84", 8, "class identifier"),
        ("8c848d9385040000000184a305", 12, "5 entries"),
        ("8c848d9385040000000184a30101059e", 16, "data: 5 octets"),
        ("8c848d93850400000001849e", 12, "WAP multipart body"),
        ("8c848d9385040000000184a300ff", 13, "end of the PDU"),
        ("8c80985431008d9389018184a300", 16, None),
    ],
)
def test_malformed_pdus_name_the_offset(hexstr: str, offset: int, expected: str | None) -> None:
    data = bytes.fromhex(hexstr)
    if expected is None:  # the last row is valid: it proves the rows above fail for the reason they name
        decode_pdu(data)
        return
    with pytest.raises(DecodeError) as info:
        decode_pdu(data)
    assert expected in str(info.value)
    assert info.value.offset == offset


def test_parts_are_zero_copy_views_of_the_input() -> None:
    data = encode_pdu(PDU_CASES[8][1])
    part = decode_pdu(data).parts[0]  # type: ignore[union-attr]
    assert isinstance(part.data, memoryview)
    assert part.data.obj is not None and bytes(part.data) == b"hi"


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_pdu(b"\x8c" + data)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([c[2] for c in PDU_CASES]), st.data())
def test_fuzz_mutated_pdus(hexstr: str, data: st.DataObject) -> None:
    pdu = bytearray(bytes.fromhex(hexstr))
    for _ in range(data.draw(st.integers(1, 4))):
        choice = data.draw(st.integers(0, 2))
        at = data.draw(st.integers(0, max(0, len(pdu) - 1)))
        if choice == 0 and pdu:
            pdu[at] = data.draw(st.integers(0, 255))
        elif choice == 1:
            pdu.insert(at, data.draw(st.integers(0, 255)))
        elif pdu:
            del pdu[at:]
    with contextlib.suppress(DecodeError):
        decode_pdu(bytes(pdu))


def test_every_truncation_of_a_send_req_is_a_value_or_a_decode_error() -> None:
    data = bytes.fromhex(PDU_CASES[8][2])
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            decode_pdu(data[:n])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PDUS["m-send-req"], st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20))
def test_readdress_changes_only_the_transaction_id_and_the_recipients(pdu: SendReq, tid: str) -> None:
    from dataclasses import replace

    from bridge.codec.mms import readdress

    to = ("+12015554567/TYPE=PLMN",)
    again = decode_pdu(readdress(encode_pdu(pdu), transaction_id=tid, to=to))
    assert again == replace(pdu, transaction_id=tid, to=to)


def test_readdress_refuses_other_pdus() -> None:
    from bridge.codec.mms import readdress

    with pytest.raises(DecodeError, match="m-send-req"):
        readdress(bytes.fromhex(PDU_CASES[0][2]), transaction_id="t", to=())

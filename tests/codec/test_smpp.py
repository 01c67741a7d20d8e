"""SMPP 3.4 PDUs and the sans-I/O session: one table of (value, hex) cases drives encode and decode, the hex
written field by field from the spec (4.1-4.11); truncations give DecodeError; tshark's SMPP dissector reads
the submit_sm that carries a notification push down to the MMS headers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.codec.smpp import (
    Bind,
    BindResp,
    BindState,
    CommandId,
    CommandStatus,
    Empty,
    MessageIdResp,
    Pdu,
    ProtocolError,
    ShortMessage,
    SMPPConnection,
    Tag,
    Tlv,
    decode,
    encode,
    parse_receipt,
)
from bridge.convert.notification import notification_push
from bridge.errors import DecodeError, EncodeError
from tests.oracle import dissect_smpp

SUBMIT = ShortMessage(
    command_id=CommandId.SUBMIT_SM,
    source_addr_ton=5,
    source_addr="MMS",
    destination_addr="12015554567",
    esm_class=0x40,
    registered_delivery=1,
    data_coding=0x04,
    short_message=b"\x01\x02\x03",
)

CASES: list[tuple[Pdu, str]] = [
    (
        Pdu(sequence_number=1, body=Bind(command_id=CommandId.BIND_TRANSCEIVER, system_id="bridge", password="secret")),
        "00000023 00000009 00000000 00000001 62726964676500 73656372657400 00 34 00 00 00",
    ),
    (
        Pdu(sequence_number=1, body=BindResp(command_id=CommandId.BIND_TRANSCEIVER_RESP, system_id="SMSC")),
        "00000015 80000009 00000000 00000001 534d534300",
    ),
    (
        Pdu(sequence_number=2, body=SUBMIT),
        "00000032 00000004 00000000 00000002"
        " 00 05 00 4d4d5300 01 01 313230313535353435363700 40 00 00 00 00 01 00 04 00 03 010203",
    ),
    (
        Pdu(sequence_number=2, body=MessageIdResp(command_id=CommandId.SUBMIT_SM_RESP, message_id="sim-1")),
        "00000016 80000004 00000000 00000002 73696d2d3100",
    ),
    (
        Pdu(
            sequence_number=3,
            command_status=CommandStatus.ESME_RTHROTTLED,
            body=MessageIdResp(command_id=CommandId.SUBMIT_SM_RESP),
        ),
        "00000010 80000004 00000058 00000003",
    ),
    (
        Pdu(sequence_number=7, body=MessageIdResp(command_id=CommandId.DELIVER_SM_RESP)),
        "00000011 80000005 00000000 00000007 00",
    ),
    (Pdu(sequence_number=4, body=Empty(command_id=CommandId.ENQUIRE_LINK)), "00000010 00000015 00000000 00000004"),
    (
        Pdu(sequence_number=9, command_status=3, body=Empty(command_id=CommandId.GENERIC_NACK)),
        "00000010 80000000 00000003 00000009",
    ),
    (Pdu(sequence_number=10, body=Empty(command_id=CommandId.UNBIND_RESP)), "00000010 80000006 00000000 0000000a"),
]


@pytest.mark.parametrize(("pdu", "hex_"), CASES, ids=[c[0].command_id.name for c in CASES])
def test_encode_and_decode_the_table(pdu: Pdu, hex_: str) -> None:
    wire = bytes.fromhex(hex_.replace(" ", ""))
    assert encode(pdu) == wire
    assert decode(wire) == pdu


@pytest.mark.parametrize(("pdu", "hex_"), CASES, ids=[c[0].command_id.name for c in CASES])
def test_every_truncation_is_a_decode_error(pdu: Pdu, hex_: str) -> None:
    wire = bytes.fromhex(hex_.replace(" ", ""))
    for n in range(len(wire)):
        cut = wire[:n]
        if n >= 4:  # keep the length field honest so that the body is what runs short
            cut = n.to_bytes(4, "big") + cut[4:]
        if n == 16 and pdu.command_id.is_response:
            body = decode(cut).body  # a response may come without a body
            assert getattr(body, "message_id", "") == "" and getattr(body, "system_id", "") == ""
            continue
        with pytest.raises(DecodeError):
            decode(cut)


def test_tlvs_round_trip_and_limits_are_enforced() -> None:
    sm = ShortMessage(
        command_id=CommandId.DELIVER_SM,
        destination_addr="MMS",
        short_message=b"",
        tlvs=(Tlv(tag=Tag.MESSAGE_PAYLOAD, value=b"x" * 300), Tlv(tag=Tag.MESSAGE_STATE, value=b"\x02")),
    )
    pdu = Pdu(sequence_number=5, body=sm)
    assert decode(encode(pdu)) == pdu
    with pytest.raises(EncodeError, match="short_message"):
        encode(
            Pdu(
                sequence_number=1,
                body=ShortMessage(command_id=CommandId.SUBMIT_SM, destination_addr="1", short_message=b"x" * 255),
            )
        )
    with pytest.raises(EncodeError, match="system_id"):
        encode(
            Pdu(sequence_number=1, body=Bind(command_id=CommandId.BIND_TRANSMITTER, system_id="x" * 16, password=""))
        )
    with pytest.raises(DecodeError, match="command_id"):
        decode(bytes.fromhex("00000010 00000099 00000000 00000001".replace(" ", "")))


def test_receipts_from_tlvs_or_from_the_appendix_b_text() -> None:
    text = b"id:sim-7 sub:001 dlvrd:001 submit date:2611270812 done date:2611270812 stat:UNDELIV err:012 text:"
    base = ShortMessage(command_id=CommandId.DELIVER_SM, destination_addr="MMS", esm_class=0x04, short_message=text)
    receipt = parse_receipt(base)
    assert receipt is not None and (receipt.message_id, receipt.state, receipt.error) == ("sim-7", "UNDELIV", "012")
    with_tlvs = ShortMessage(
        command_id=CommandId.DELIVER_SM,
        destination_addr="MMS",
        esm_class=0x04,
        short_message=b"",
        tlvs=(Tlv(tag=Tag.RECEIPTED_MESSAGE_ID, value=b"sim-8\0"), Tlv(tag=Tag.MESSAGE_STATE, value=b"\x02")),
    )
    assert parse_receipt(with_tlvs) == parse_receipt(with_tlvs) and parse_receipt(with_tlvs).state == "DELIVRD"  # type: ignore[union-attr]
    assert (
        parse_receipt(ShortMessage(command_id=CommandId.DELIVER_SM, destination_addr="1", short_message=b"hi")) is None
    )


def test_the_session_rules() -> None:
    conn = SMPPConnection()
    with pytest.raises(EncodeError):
        conn.send_submit(SUBMIT)  # not bound yet
    seq, data = conn.send_bind(Bind(command_id=CommandId.BIND_TRANSCEIVER, system_id="b", password="p"))
    assert decode(data).command_id is CommandId.BIND_TRANSCEIVER and conn.state is BindState.BINDING
    resp = encode(Pdu(sequence_number=seq, body=BindResp(command_id=CommandId.BIND_TRANSCEIVER_RESP, system_id="S")))
    conn.receive_data(resp[:7])  # a PDU that arrives in pieces
    assert conn.next_event() is None
    conn.receive_data(resp[7:])
    event = conn.next_event()
    assert event is not None and event.command_id is CommandId.BIND_TRANSCEIVER_RESP and conn.can_submit
    seq2, _ = conn.send_submit(SUBMIT)
    assert seq2 == seq + 1 and conn.outstanding == 1
    # two PDUs in one read: an enquire_link from the SMSC and the submit's response
    conn.receive_data(
        encode(Pdu(sequence_number=77, body=Empty(command_id=CommandId.ENQUIRE_LINK)))
        + encode(Pdu(sequence_number=seq2, body=MessageIdResp(command_id=CommandId.SUBMIT_SM_RESP, message_id="m")))
    )
    enquire, submitted = conn.next_event(), conn.next_event()
    assert enquire is not None and submitted is not None and conn.outstanding == 0
    assert decode(conn.send_response(enquire)) == Pdu(
        sequence_number=77, body=Empty(command_id=CommandId.ENQUIRE_LINK_RESP)
    )
    with pytest.raises(ProtocolError, match="outstanding"):  # a response nobody asked for
        conn.receive_data(encode(Pdu(sequence_number=999, body=MessageIdResp(command_id=CommandId.SUBMIT_SM_RESP))))
    with pytest.raises(DecodeError, match="command_length"):
        SMPPConnection().receive_data(b"\xff\xff\xff\xff")


def test_a_refused_bind_closes_the_session() -> None:
    conn = SMPPConnection()
    seq, _ = conn.send_bind(Bind(command_id=CommandId.BIND_TRANSMITTER, system_id="b", password="bad"))
    conn.receive_data(
        encode(
            Pdu(
                sequence_number=seq,
                command_status=CommandStatus.ESME_RINVPASWD,
                body=BindResp(command_id=CommandId.BIND_TRANSMITTER_RESP, system_id=""),
            )
        )
    )
    event = conn.next_event()
    assert event is not None and event.command_status == CommandStatus.ESME_RINVPASWD
    assert conn.state is BindState.CLOSED and not conn.can_submit


def test_wireshark_reads_the_submit_sm_down_to_the_mms_notification() -> None:
    ind, segments = notification_push(
        transaction_id="T0kEn",
        content_location="http://mms.example.net/m/AbCdEfGhIjKlMnOpQrStUv",
        message_size=48_000,
        expiry=timedelta(days=2),
        reference=9,
        sender="camera@example.org",
    )
    conn = SMPPConnection()
    seq, bind = conn.send_bind(Bind(command_id=CommandId.BIND_TRANSCEIVER, system_id="bridge", password="pw"))
    conn.receive_data(
        encode(Pdu(sequence_number=seq, body=BindResp(command_id=CommandId.BIND_TRANSCEIVER_RESP, system_id="S")))
    )
    _, submit = conn.send_submit(
        ShortMessage(
            command_id=CommandId.SUBMIT_SM,
            destination_addr="12015554567",
            esm_class=0x40,
            data_coding=0x04,
            registered_delivery=1,
            short_message=segments[0],
        )
    )
    bind_seen, submit_seen = dissect_smpp([bind, submit])
    assert not bind_seen.problems and bind_seen.first("smpp.system_id") == "bridge"
    assert bind_seen.first("smpp.interface_version") is not None
    assert not submit_seen.problems, submit_seen.problems
    assert submit_seen.first("smpp.destination_addr") == "12015554567"
    assert int(submit_seen.first("smpp.esm.submit.features") or "0", 0) == 1  # UDHI
    assert {"gsm_sms_ud", "wsp", "mmse"} <= submit_seen.protocols, submit_seen.protocols
    assert submit_seen.first("mmse.transaction_id") == "T0kEn"
    assert submit_seen.first("mmse.content_location") == ind.content_location

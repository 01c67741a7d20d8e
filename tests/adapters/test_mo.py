"""Phones' short messages put back together (`adapters/sms/mo.py`): segments in any order, by UDH or sar TLVs,
decoded once whole; floods of first segments and segments that never complete cost bounded memory; hostile
segments are a DecodeError (answered as such), never an IndexError."""

from __future__ import annotations

import pytest

from bridge.adapters.sms.mo import MOAssembler
from bridge.codec.smpp import ESM_UDHI, CommandId, ShortMessage, Tag, Tlv
from bridge.errors import DecodeError


def sm(
    data: bytes, *, udh: bytes = b"", coding: int = 0, sender: str = "12015554567", tlvs: tuple[Tlv, ...] = ()
) -> ShortMessage:
    return ShortMessage(command_id=CommandId.DELIVER_SM, destination_addr="12345", source_addr=sender,
                        short_message=udh + data, esm_class=ESM_UDHI if udh else 0, data_coding=coding,
                        tlvs=tlvs)  # fmt: skip


def udh(ref: int, total: int, n: int) -> bytes:
    return bytes((5, 0, 3, ref, total, n))


def test_segments_in_any_order_make_one_text() -> None:
    mo = MOAssembler()
    assert mo.take(sm(b"c", udh=udh(1, 3, 3))) is None
    assert mo.take(sm(b"a", udh=udh(1, 3, 1))) is None
    done = mo.take(sm(b"b", udh=udh(1, 3, 2)))
    assert done is not None and done.text == "abc" and done.sender == "12015554567"


def test_the_same_reference_from_two_phones_is_two_messages() -> None:
    mo = MOAssembler()
    assert mo.take(sm(b"x1", udh=udh(7, 2, 1), sender="1")) is None
    assert mo.take(sm(b"y1", udh=udh(7, 2, 1), sender="2")) is None
    one = mo.take(sm(b"x2", udh=udh(7, 2, 2), sender="1"))
    two = mo.take(sm(b"y2", udh=udh(7, 2, 2), sender="2"))
    assert one is not None and two is not None and (one.text, two.text) == ("x1x2", "y1y2")


def test_message_payload_and_sar_tlvs() -> None:
    mo = MOAssembler()
    payload = ShortMessage(command_id=CommandId.DELIVER_SM, destination_addr="1", source_addr="2", short_message=b"",
                           tlvs=(Tlv(tag=Tag.MESSAGE_PAYLOAD, value=b"long text"),))  # fmt: skip
    done = mo.take(payload)
    assert done is not None and done.text == "long text"
    sar = (Tlv(tag=Tag.SAR_MSG_REF_NUM, value=b"\x00\x05"), Tlv(tag=Tag.SAR_TOTAL_SEGMENTS, value=b"\x03"),
           Tlv(tag=Tag.SAR_SEGMENT_SEQNUM, value=b"\x04"))  # fmt: skip
    with pytest.raises(DecodeError, match="sar segment 4 of 3"):
        mo.take(sm(b"x", tlvs=sar))


def test_a_flood_of_first_segments_and_stale_ones_cost_bounded_memory() -> None:
    now = [0.0]
    mo = MOAssembler(max_wait_s=60, max_pending=100, clock=lambda: now[0])
    for ref in range(5000):
        assert mo.take(sm(b"x", udh=bytes((6, 8, 4, ref >> 8, ref & 0xFF, 2, 1)))) is None
    assert mo.waiting <= 101
    now[0] = 120.0  # all of them stale: the next segment sweeps them
    assert mo.take(sm(b"a", udh=udh(9, 2, 1))) is None
    assert mo.waiting == 1


@pytest.mark.parametrize(
    "bad",
    [
        sm(b"", udh=b"\x05\x00\x03"),  # header cut short
        sm(b"x", udh=udh(1, 2, 0)),  # segment 0
        sm(b"\x80x"),  # not a septet
        sm(b"\x00a\x00", coding=8),  # odd UCS-2
        sm(b"\x01\x02", coding=4),  # binary data is not text
    ],
)
def test_hostile_segments_are_decode_errors(bad: ShortMessage) -> None:
    with pytest.raises(DecodeError):
        MOAssembler().take(bad)

"""Short-message text (TS 23.038, TS 23.040 9.2.3.24): one table of (value, hex) cases drives encoding and
decoding; hostile data (non-septets, odd UCS-2, cut headers) is a DecodeError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.codec.sms_text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    DataCoding,
    Segment,
    concatenation_udh,
    decode_gsm7,
    decode_text,
    encode_gsm7,
    gsm7_septets,
    split_udh,
)
from bridge.errors import DecodeError, EncodeError

#: (text, unpacked GSM 7-bit hex) — values from TS 23.038's table: '@' 0x00, '£' 0x01, 'é' 0x05, LF 0x0A,
#: 'Δ' 0x10, 'A' 0x41, 'Ä' 0x5B, 'ä' 0x7B, 'à' 0x7F; '€' is ESC 0x65, '[' ESC 0x3C, '{' ESC 0x28
GSM7_CASES = [
    ("@£é\nΔ", "0001050a10"),
    ("ACK", "41434b"),
    ("Äää", "5b7b7b"),
    ("à la €5", "7f206c61201b6535"),
    ("[x]{y}", "1b3c781b3e1b28791b29"),
    ("~|^\\", "1b3d1b401b141b2f"),
]


@pytest.mark.parametrize(("text", "hex_"), GSM7_CASES)
def test_gsm7_encodes_and_decodes_by_the_table(text: str, hex_: str) -> None:
    assert encode_gsm7(text).hex() == hex_
    assert decode_gsm7(bytes.fromhex(hex_)) == text
    assert gsm7_septets(text) == len(bytes.fromhex(hex_))


#: (segment, UDH hex) — TS 23.040 9.2.3.24.1 (IEI 0x00, 8-bit reference) and 9.2.3.24.8 (IEI 0x08, 16-bit)
UDH_CASES = [
    (Segment(reference=0x2A, total=3, number=1), "0500032a0301"),
    (Segment(reference=0xFF, total=2, number=2), "050003ff0202"),
    (Segment(reference=0x1234, total=4, number=3), "060804123404 03".replace(" ", "")),
]


@pytest.mark.parametrize(("segment", "hex_"), UDH_CASES)
def test_concatenation_headers_by_the_table(segment: Segment, hex_: str) -> None:
    assert concatenation_udh(segment).hex() == hex_
    assert split_udh(bytes.fromhex(hex_) + b"rest") == (segment, b"rest")


def test_other_elements_are_skipped_and_ucs2_and_latin1_decode() -> None:
    # a port-addressing element (0x05) before the concatenation one
    udh = bytes.fromhex("0b05040b8423f00003070201")
    assert split_udh(udh + b"x") == (Segment(reference=7, total=2, number=1), b"x")
    assert decode_text("日本 ok".encode("utf-16-be"), DataCoding.UCS2) == "日本 ok"
    assert decode_text(b"caf\xe9", DataCoding.LATIN1) == "café"
    assert gsm7_septets("日本") is None and gsm7_septets("") == 0


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: decode_gsm7(b"ok\x80"), "offset 2"),
        (lambda: decode_text(b"\x00a\x00", DataCoding.UCS2), "even number"),
        (lambda: decode_text(b"\x01\x02", DataCoding.BINARY), "data_coding 0x04"),
        (lambda: split_udh(b""), "offset 0"),
        (lambda: split_udh(b"\x05\x00\x03"), "header of 5"),
        (lambda: split_udh(b"\x05\x00\x04\x01\x02\x03"), "element 0x00 of 4"),
        (lambda: split_udh(b"\x05\x00\x03\x01\x02\x03"), "segment 3 of 2"),
        (lambda: split_udh(b"\x05\x00\x03\x01\x02\x00"), "segment 0 of 2"),
    ],
)
def test_hostile_data_is_a_decode_error(call: object, where: str) -> None:
    with pytest.raises(DecodeError, match=where):
        call()  # type: ignore[operator]


def test_a_character_outside_both_tables_cannot_be_gsm7() -> None:
    with pytest.raises(EncodeError):
        encode_gsm7("naïve")


@given(st.text(alphabet=st.sampled_from([c for c in GSM7_BASIC if c != "\x1b"] + list(GSM7_EXTENSION.values()))))
def test_every_gsm7_text_round_trips(text: str) -> None:
    assert decode_gsm7(encode_gsm7(text)) == text


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    for coding in (DataCoding.DEFAULT, DataCoding.UCS2):
        with contextlib.suppress(DecodeError):
            decode_text(data, coding)
    with contextlib.suppress(DecodeError):
        split_udh(data)

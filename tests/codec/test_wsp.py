"""WSP primitives: one table of (value, hex) cases drives both the encode and the decode tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.codec import wsp
from bridge.codec.tables import Charset
from bridge.codec.wsp import ContentType, Reader
from bridge.errors import DecodeError, EncodeError

Case = tuple[str, Callable[[Any], bytes], Callable[[Reader], Any], Any, str]

CASES: list[Case] = [
    ("uintvar 0", wsp.encode_uintvar, lambda r: r.uintvar("x"), 0, "00"),
    ("uintvar 127", wsp.encode_uintvar, lambda r: r.uintvar("x"), 127, "7f"),
    ("uintvar 128", wsp.encode_uintvar, lambda r: r.uintvar("x"), 128, "8100"),
    ("uintvar 16383", wsp.encode_uintvar, lambda r: r.uintvar("x"), 16383, "ff7f"),
    ("uintvar 2^32-1", wsp.encode_uintvar, lambda r: r.uintvar("x"), 0xFFFFFFFF, "8fffffff7f"),
    ("short-integer 0", wsp.encode_short_integer, lambda r: r.short_integer("x"), 0, "80"),
    ("short-integer 0x13 (MMS 1.3)", wsp.encode_short_integer, lambda r: r.short_integer("x"), 0x13, "93"),
    ("long-integer 0", wsp.encode_long_integer, lambda r: r.long_integer("x"), 0, "0100"),
    ("long-integer 12345", wsp.encode_long_integer, lambda r: r.long_integer("x"), 12345, "023039"),
    ("long-integer 2^32", wsp.encode_long_integer, lambda r: r.long_integer("x"), 2**32, "050100000000"),
    ("integer-value 5", wsp.encode_integer_value, lambda r: r.integer_value("x"), 5, "85"),
    ("integer-value 106 (UTF-8)", wsp.encode_integer_value, lambda r: r.integer_value("x"), 106, "ea"),
    ("integer-value 1015 (UTF-16)", wsp.encode_integer_value, lambda r: r.integer_value("x"), 1015, "0203f7"),
    ("value-length 30", wsp.encode_value_length, lambda r: r.octet("x"), 30, "1e"),
    ("text-string", wsp.encode_text_string, lambda r: r.text_string("x"), "abc", "61626300"),
    ("text-string empty", wsp.encode_text_string, lambda r: r.text_string("x"), "", "00"),
    ("text-string quoted high octet", wsp.encode_text_string, lambda r: r.text_string("x"), "é", "7fc3a900"),
    ("quoted-string", wsp.encode_quoted_string, lambda r: r.quoted_string("x"), "<a>", "223c613e00"),
    ("encoded-string ascii", wsp.encode_encoded_string, lambda r: r.encoded_string("x"), "Hi", "486900"),
    (
        "encoded-string utf-8",
        wsp.encode_encoded_string,
        lambda r: r.encoded_string("x"),
        "é",
        "05ea7fc3a900",
    ),
    (
        "date",
        wsp.encode_date,
        lambda r: r.date("x"),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "04" + (int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())).to_bytes(4, "big").hex(),
    ),
    (
        "content-type well-known",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(media_type="image/jpeg"),
        "9e",
    ),
    (
        "content-type text",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(media_type="application/smil"),
        "6170706c69636174696f6e2f736d696c00",
    ),
    (
        "content-type charset",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(media_type="text/plain", charset=Charset.UTF_8),
        "038381ea",
    ),
    (
        "content-type multipart.related start and type",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(
            media_type="application/vnd.wap.multipart.related",
            params=(("start", "<smil>"), ("type", "application/smil")),
        ),
        "1bb38a3c736d696c3e00" + "89" + "6170706c69636174696f6e2f736d696c00",
    ),
    (
        "content-type name",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(media_type="image/png", params=(("name", "a.png"),)),
        "08a085612e706e6700",
    ),
    (
        "content-type untyped parameter",
        wsp.encode_content_type,
        wsp.read_content_type,
        ContentType(media_type="text/plain", params=(("format", "flowed"),)),
        "1083666f726d617400" + "22666c6f77656400",
    ),
]


@pytest.mark.parametrize(("name", "encode", "decode", "value", "hexstr"), CASES, ids=[c[0] for c in CASES])
def test_encode(name: str, encode: Callable[[Any], bytes], decode: Any, value: Any, hexstr: str) -> None:
    assert encode(value).hex() == hexstr


@pytest.mark.parametrize(("name", "encode", "decode", "value", "hexstr"), CASES, ids=[c[0] for c in CASES])
def test_decode(name: str, encode: Any, decode: Callable[[Reader], Any], value: Any, hexstr: str) -> None:
    r = Reader(bytes.fromhex(hexstr))
    assert decode(r) == value
    assert r.at_end()


@given(st.integers(0, 0xFFFFFFFF))
def test_uintvar_round_trip(n: int) -> None:
    assert Reader(wsp.encode_uintvar(n)).uintvar("n") == n


@given(st.integers(0, 2**240 - 1))
def test_long_integer_round_trip(n: int) -> None:
    assert Reader(wsp.encode_long_integer(n)).long_integer("n") == n


@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_encoded_string_round_trip(text: str) -> None:
    assert Reader(wsp.encode_encoded_string(text)).encoded_string("t") == text


@pytest.mark.parametrize(
    ("hexstr", "expected"),
    [
        ("", "offset 0"),
        ("8080808080", "uintvar of at most 5 octets"),
        ("9fffffff7f", "uintvar over 32 bits"),
    ],
)
def test_uintvar_errors(hexstr: str, expected: str) -> None:
    with pytest.raises(DecodeError, match=expected):
        Reader(bytes.fromhex(hexstr)).uintvar("n")


def test_value_length_past_the_end_names_the_offset() -> None:
    r = Reader(bytes.fromhex("00051e41"), pos=2)
    with pytest.raises(DecodeError) as info:
        r.value_length("Subject")
    assert info.value.offset == 2
    assert "runs past the end" in info.value.expected


def test_text_without_nul_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="NUL-terminated"):
        Reader(b"abc").text_string("Message-ID")


def test_encoded_string_in_every_python_charset() -> None:
    # A charset the table knows is honoured: Latin-1, KOI8-R and Shift_JIS text come back as written.
    for mib, text in ((Charset.ISO_8859_1, "café"), (Charset.KOI8_R, "Привет"), (Charset.SHIFT_JIS, "日本")):
        raw = text.encode({4: "latin-1", 2084: "koi8-r", 17: "shift_jis"}[mib])
        body = wsp.encode_integer_value(mib) + raw + b"\x00"
        assert Reader(wsp.with_value_length(body)).encoded_string("s") == text


def test_encoded_string_with_undecodable_bytes_gives_replacement_characters() -> None:
    body = wsp.encode_integer_value(Charset.UTF_8) + b"\xff\xfe" + b"\x00"
    assert Reader(wsp.with_value_length(body)).encoded_string("s") == "\ufffd\ufffd"


def test_encoder_refuses_nul_and_out_of_range() -> None:
    with pytest.raises(EncodeError):
        wsp.encode_text_string("a\x00b")
    with pytest.raises(EncodeError):
        wsp.encode_short_integer(128)
    with pytest.raises(EncodeError):
        wsp.encode_uintvar(2**32)
    with pytest.raises(EncodeError):
        wsp.encode_date(datetime(2026, 1, 1))


def test_unassigned_well_known_media_type_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="well-known content type, got 0x7F"):
        wsp.read_content_type(Reader(b"\xff"))

"""SMIL: the plain presentation handsets render, and the reading of real SMIL documents."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.codec.smil import Slide, decode_smil, encode_smil
from bridge.errors import DecodeError, EncodeError

names = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20))


def test_document_has_root_layout_image_and_text_regions_and_one_par_per_slide() -> None:
    doc = encode_smil(
        [Slide(image="a.jpg", text="a.txt", duration_ms=4000), Slide(text="b.txt"), Slide(audio="c.amr")],
        width=640,
        height=480,
    )
    root = ET.fromstring(doc)
    layout = root.find("head/layout")
    assert layout is not None
    assert layout.find("root-layout").attrib == {"width": "640", "height": "480"}  # type: ignore[union-attr]
    assert [r.get("id") for r in layout.findall("region")] == ["Image", "Text"]
    pars = root.findall("body/par")
    assert [p.get("dur") for p in pars] == ["4000ms", "5000ms", "5000ms"]
    assert [(c.tag, c.get("src"), c.get("region")) for c in pars[0]] == [
        ("img", "a.jpg", "Image"),
        ("text", "a.txt", "Text"),
    ]
    assert [(c.tag, c.get("src")) for c in pars[2]] == [("audio", "c.amr")]


@given(st.lists(st.builds(Slide, image=names, text=names, audio=names, duration_ms=st.integers(1, 10**6)), min_size=1))
def test_round_trip(slides: list[Slide]) -> None:
    assert decode_smil(encode_smil(slides)) == tuple(slides)


def test_refusals() -> None:
    with pytest.raises(EncodeError):
        encode_smil([])
    with pytest.raises(EncodeError):
        encode_smil([Slide(image="a", video="b")])
    with pytest.raises(DecodeError, match="well-formed"):
        decode_smil(b"<smil><body><par>")


def test_reads_a_real_handset_smil() -> None:
    doc = (
        b'<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head><layout>'
        b'<root-layout width="176" height="220"/></layout></head><body>'
        b'<par dur="8s"><img src="cid:photo.jpg" region="Image"/><text src="t.txt" region="Text"/></par>'
        b"</body></smil>"
    )
    assert decode_smil(doc) == (Slide(duration_ms=8000, image="cid:photo.jpg", text="t.txt"),)

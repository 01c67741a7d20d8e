"""SMIL presentations for MMS, in the plain form handsets render (OMA-MMS-CONF section 8, "MMS SMIL").

Owns `Slide` and the encoder/decoder of the document: a root-layout, an `Image` region above a `Text` region,
and one `par` per slide with its duration, holding at most one image (or video), one text and one audio
reference. References (`src`) name a part's Content-Location, or its Content-ID as `cid:…`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import quoteattr

from bridge.codec.multipart import BodyPart
from bridge.errors import DecodeError, EncodeError

SMIL_MEDIA_TYPE: Final = "application/smil"
#: The region names handsets look for; Android maps "Image" and "Text" to its slide layout.
IMAGE_REGION: Final = "Image"
TEXT_REGION: Final = "Text"


@dataclass(frozen=True, slots=True, kw_only=True)
class Slide:
    """One page of the presentation; each media field is the `src` of a part, or None."""

    duration_ms: int = 5000
    image: str | None = None
    video: str | None = None
    text: str | None = None
    audio: str | None = None


def encode_smil(slides: Iterable[Slide], *, width: int = 320, height: int = 480) -> bytes:
    """The SMIL document (UTF-8) for `slides`; the image region takes the top 70 %, the text the rest."""
    items = list(slides)
    if not items:
        raise EncodeError("SMIL: at least one slide")
    if width <= 0 or height <= 0:
        raise EncodeError("SMIL: root-layout width and height must be positive")
    lines = [
        "<smil>",
        "<head>",
        "<layout>",
        f'<root-layout width="{width}" height="{height}"/>',
        f'<region id="{IMAGE_REGION}" left="0" top="0" width="100%" height="70%" fit="meet"/>',
        f'<region id="{TEXT_REGION}" left="0" top="70%" width="100%" height="30%" fit="scroll"/>',
        "</layout>",
        "</head>",
        "<body>",
    ]
    for i, slide in enumerate(items):
        if slide.duration_ms <= 0:
            raise EncodeError(f"SMIL: slide {i + 1} needs a positive duration")
        if slide.image is not None and slide.video is not None:
            raise EncodeError(f"SMIL: slide {i + 1} has both an image and a video for one region")
        lines.append(f'<par dur="{slide.duration_ms}ms">')
        if slide.image is not None:
            lines.append(f'<img src={quoteattr(slide.image)} region="{IMAGE_REGION}"/>')
        if slide.video is not None:
            lines.append(f'<video src={quoteattr(slide.video)} region="{IMAGE_REGION}"/>')
        if slide.text is not None:
            lines.append(f'<text src={quoteattr(slide.text)} region="{TEXT_REGION}"/>')
        if slide.audio is not None:
            lines.append(f"<audio src={quoteattr(slide.audio)}/>")
        lines.append("</par>")
    lines += ["</body>", "</smil>"]
    return "\n".join(lines).encode("utf-8")


def _duration_ms(value: str | None) -> int:
    if not value:
        return 5000
    v = value.strip()
    try:
        if v.endswith("ms"):
            return int(float(v[:-2]))
        if v.endswith("s"):
            return int(float(v[:-1]) * 1000)
        return int(float(v) * 1000)
    except ValueError:
        return 5000


def decode_smil(data: bytes | memoryview) -> tuple[Slide, ...]:
    """The slides of a SMIL document as handsets read it: each `par` of the body, in order."""
    try:
        root = ET.fromstring(bytes(data))
    except ET.ParseError as exc:
        line, col = exc.position
        raise DecodeError(0, f"SMIL: well-formed XML (line {line}, column {col})") from exc
    slides = []
    for par in root.iter():
        if par.tag.rsplit("}", 1)[-1] != "par":
            continue
        media: dict[str, str] = {}
        for el in par:
            tag = el.tag.rsplit("}", 1)[-1]
            src = el.get("src")
            if src is None:
                continue
            key = {"img": "image", "video": "video", "text": "text", "audio": "audio", "ref": "image"}.get(tag)
            if key is not None and key not in media:
                media[key] = src
        slides.append(Slide(duration_ms=_duration_ms(par.get("dur")), **media))
    return tuple(slides)


def referenced_name(src: str) -> str:
    """What a `src` names: a Content-ID (`cid:<id>`, angle brackets dropped) or a Content-Location."""
    return src.removeprefix("cid:").strip("<>")


def part_named(parts: Sequence[BodyPart], src: str | None) -> int | None:
    """The index of the part `src` names, by Content-ID or Content-Location; None for none."""
    if not src:
        return None
    name = referenced_name(src)
    for n, part in enumerate(parts):
        if name in ((part.content_id or "").strip("<>"), part.content_location):
            return n
    return None

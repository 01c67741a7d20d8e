"""An MMS as its slides, for the pages that show one (the console's message page, the phone's message page at
`/v/<token>`): each slide names its picture, video and sound by part number and carries its text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.codec.multipart import BodyPart
from bridge.codec.smil import SMIL_MEDIA_TYPE, decode_smil, part_named
from bridge.errors import DecodeError


@dataclass(frozen=True, slots=True, kw_only=True)
class SlideView:
    duration_s: float = 5.0
    image: int | None = None
    video: int | None = None
    audio: int | None = None
    text: str = ""


def part_text(part: BodyPart) -> str:
    """A text part in its charset (UTF-8 when it names none or one Python does not know)."""
    charset = dict(part.content_type.params).get("charset", "utf-8")
    try:
        return bytes(part.data).decode(charset if isinstance(charset, str) else "utf-8", "replace")
    except LookupError:
        return bytes(part.data).decode("utf-8", "replace")


def slide_views(parts: Sequence[BodyPart]) -> tuple[list[SlideView], str]:
    """The SMIL's slides, and "" — or no slides and why: no SMIL, or one that cannot be read."""
    smil = next((p for p in parts if p.content_type.media_type == SMIL_MEDIA_TYPE), None)
    if smil is None:
        return [], "no SMIL: the parts are shown in their order"
    try:
        decoded = decode_smil(smil.data)
    except DecodeError as exc:
        return [], f"the SMIL cannot be read ({exc})"
    slides = []
    for slide in decoded:
        text_at = part_named(parts, slide.text)
        slides.append(
            SlideView(
                duration_s=slide.duration_ms / 1000,
                image=part_named(parts, slide.image),
                video=part_named(parts, slide.video),
                audio=part_named(parts, slide.audio),
                text=part_text(parts[text_at]) if text_at is not None else "",
            )
        )
    return slides, ""

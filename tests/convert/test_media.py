"""Sound fitted to what phones play (issue 12, part 1, the audio half): every audio file of ../shared/media (and
the sound track of a 3GP) becomes AMR-NB, 8 kHz, mono, cut to its budget — as ffprobe (Debian's ffmpeg, an oracle
nobody here wrote) reads it; a sound the route cannot take no longer refuses the whole mail; bombs are refused
before decoding."""

from __future__ import annotations

import struct
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.convert.compose import convert_mail
from bridge.convert.media import AMR_BYTES_PER_SECOND, fit_audio
from bridge.convert.profile import PROFILES
from bridge.errors import MediaDropped
from tests.convert import helpers
from tests.convert.helpers import MEDIA

SOUNDS = sorted(
    p.name for p in MEDIA.iterdir() if p.name.split("--")[0] in ("mp3", "aac", "amr") or "audio-only" in p.name
)


def ffprobe(data: bytes, tmp: Path) -> dict[str, object]:
    """The one sound stream of `data`, with the container's name and duration."""
    found = helpers.ffprobe(data, tmp)
    assert set(found) == {"audio", "format"}, found
    return {
        **found["audio"],
        "format_name": found["format"]["format_name"],
        "duration": float(found["format"]["duration"]),
    }


def test_the_media_folder_has_sounds() -> None:
    assert len(SOUNDS) >= 6, SOUNDS


@pytest.mark.parametrize("name", SOUNDS)
@pytest.mark.parametrize("max_bytes", [30_000, 3_000])
def test_every_sound_becomes_amr_nb_within_its_budget(name: str, max_bytes: int, tmp_path: Path) -> None:
    fitted = fit_audio((MEDIA / name).read_bytes(), max_bytes=max_bytes)
    assert fitted.media_type == "audio/amr" and len(fitted.data) <= max_bytes
    seen = ffprobe(fitted.data, tmp_path)
    assert (seen["codec_name"], seen["sample_rate"], seen["channels"], seen["format_name"]) == (
        "amr_nb",
        "8000",
        1,
        "amr",
    )
    # each AMR packet is a 20 ms frame: the packet count is the exact length, the format's duration an estimate
    assert abs(int(seen["nb_read_packets"]) * 0.02 - fitted.seconds) < 0.001  # type: ignore[call-overload]
    assert fitted.seconds <= (max_bytes - 6) / AMR_BYTES_PER_SECOND


def test_a_voice_memo_too_long_for_the_budget_is_cut_and_the_mms_says_so(tmp_path: Path) -> None:
    memo = wav(90)  # 90 s: more than a 100 KB message holds as AMR-NB
    msg = EmailMessage()
    msg["From"] = "phone@example.org"
    msg["Subject"] = "Voice memo"
    msg.set_content("Listen to this")
    msg.add_attachment(memo, maintype="audio", subtype="basic", filename="memo.au")  # a label phones cannot take
    profile = PROFILES["video-basic"]  # 100 KB; AMR is its sound
    conv = convert_mail(bytes(msg), profile=profile)
    sounds = [p for p in conv.parts if p.content_type.media_type == "audio/amr"]
    assert len(sounds) == 1 and conv.budget_used <= profile.max_message_bytes
    seen = ffprobe(bytes(sounds[0].data), tmp_path)
    assert seen["codec_name"] == "amr_nb" and 30 < int(seen["nb_read_packets"]) * 0.02 < 90  # type: ignore[call-overload]
    assert any("memo.au cut to" in w for w in conv.warnings), conv.warnings
    [text] = [bytes(p.data).decode() for p in conv.parts if p.content_type.media_type == "text/plain"]
    assert "Cut to fit: memo.au (the first" in text


def test_a_route_without_sound_drops_it_and_sends_the_rest() -> None:
    msg = EmailMessage()
    msg["From"] = "phone@example.org"
    msg["Subject"] = "Voice memo"
    msg.set_content("Listen to this")
    msg.add_attachment((MEDIA / "mp3--file-type--lame.mp3").read_bytes(), maintype="audio", subtype="mpeg",
                       filename="memo.mp3")  # fmt: skip
    conv = convert_mail(bytes(msg), profile=PROFILES["text"])
    assert not any(p.content_type.media_type.startswith("audio/") for p in conv.parts)
    assert any("memo.mp3" in d for d in conv.dropped)


def wav(seconds: int) -> bytes:
    """`seconds` of an 8 kHz 8-bit mono WAV: a 440 Hz tone."""
    import math

    samples = bytes(128 + int(60 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8000)) * seconds
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    return header + b"data" + struct.pack("<I", len(samples)) + samples


def test_a_long_sound_is_decoded_only_as_far_as_its_budget() -> None:
    fitted = fit_audio(wav(600), max_bytes=3_000)  # ten minutes into 3 KB
    assert fitted.cut and len(fitted.data) <= 3_000 and 1.0 <= fitted.seconds <= 1.9


def test_what_is_not_sound_is_dropped_with_a_reason() -> None:
    with pytest.raises(MediaDropped, match="not a sound"):
        fit_audio(b"this is text, not sound" * 10, max_bytes=100_000)

"""Clips fitted to what phones play (issue 12, part 1, the video half): every clip of ../shared/media and clips
FFmpeg's own command line makes (a 720p camera clip in H.264 High, MPEG-4 in AVI, VP8 in WebM, variable frame rate,
120 fps slow motion, a rotated clip) become MP4 with H.264 Constrained Baseline and AAC-LC, or 3GP with H.263 and
AMR-NB, within their budget — as ffprobe (Debian's ffmpeg, an oracle nobody here wrote) reads them; rotation as
ffmpeg's own autorotation shows it; cut with a note, or sent as a still picture, when no whole clip fits; bombs
refused before decoding."""

from __future__ import annotations

import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from bridge.codec.mms import RetrieveConf, decode_pdu
from bridge.convert.compose import ConvertOptions, convert_mail
from bridge.convert.media import fit_audio
from bridge.convert.profile import BASIC_MEDIA_TYPES as VIDEO_BASIC
from bridge.convert.profile import DEFAULT_PROFILE, PROFILES, profile_from
from bridge.convert.video import H263_SIZES, VideoContainer, fit_video, probe_video
from bridge.errors import MediaDropped
from tests.convert.helpers import MEDIA, ffprobe
from tests.hostile.test_bombs import peak_growth
from tests.oracle import dissect_pdus

REAL_CLIPS = sorted(p.name for p in MEDIA.iterdir() if p.name.split("--")[0] == "mp4" or "h263" in p.name)

#: clips FFmpeg's command line makes: (name, input options, output options)
MADE = {
    "camera-720p-h264-high.mp4": (
        ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440"],
        ["-t", "12", "-c:v", "libx264", "-profile:v", "high", "-b:v", "3M", "-c:a", "aac", "-shortest"],
    ),
    "motion-mpeg4-pcm.avi": (
        ["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=22050"],
        ["-t", "5", "-c:v", "mpeg4", "-q:v", "4", "-c:a", "pcm_s16le", "-shortest"],
    ),
    "vp8-opus.webm": (
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine"],
        ["-t", "5", "-c:v", "libvpx", "-b:v", "1M", "-c:a", "libopus", "-shortest"],
    ),
    "variable-frame-rate.mp4": (
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"],
        ["-t", "6", "-vf", r"select=not(mod(n\,3))+lt(n\,40)", "-vsync", "vfr", "-c:v", "libx264"],
    ),
    "slowmo-120fps.mp4": (
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=120"],
        ["-t", "3", "-c:v", "libx264", "-preset", "ultrafast"],
    ),
}


def ffmpeg() -> str:
    tool = shutil.which("ffmpeg")
    assert tool, "ffmpeg (Debian's ffmpeg) is needed: ./contrib/run-tests installs it"
    return tool


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for name, (inputs, outputs) in MADE.items():
        path = folder / name
        subprocess.run([ffmpeg(), "-v", "error", "-y", *inputs, *outputs, str(path)], check=True, timeout=120)
        out[name] = path.read_bytes()
    # a stored landscape clip a player shows turned a quarter (as phones record portrait): the display matrix set
    # by ffmpeg's muxer, the frames copied
    plain, turned = folder / "plain.mp4", folder / "turned.mp4"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", "2", str(plain)],
        check=True,
    )
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(turned)],
        check=True,
    )
    out["turned.mp4"] = turned.read_bytes()
    return out


def clip(name: str, made: dict[str, bytes]) -> bytes:
    return made[name] if name in made else (MEDIA / name).read_bytes()


TARGETS = [(VideoContainer.MP4, 300_000), (VideoContainer.THREE_GP, 100_000), (VideoContainer.MP4, 30_000)]


@pytest.mark.parametrize("name", [*REAL_CLIPS, *MADE])
@pytest.mark.parametrize(("container", "max_bytes"), TARGETS)
def test_every_clip_becomes_what_phones_play_within_its_budget(
    name: str, container: VideoContainer, max_bytes: int, made: dict[str, bytes], tmp_path: Path
) -> None:
    data = clip(name, made)
    fitted = fit_video(data, container=container, max_bytes=max_bytes, max_width=640, max_height=480, time_limit_s=60)
    assert len(fitted.data) <= max_bytes
    seen = ffprobe(fitted.data, tmp_path)
    video, fmt = seen["video"], seen["format"]
    width, height = int(video["width"]), int(video["height"])
    assert (width, height) == (fitted.width, fitted.height) and width % 2 == 0 and height % 2 == 0
    assert max(width, height) <= 640 and min(width, height) <= 480
    # a constant frame rate, at most 15 a second, whatever came in (120 fps slow motion, variable rates)
    assert video["r_frame_rate"] == video["avg_frame_rate"] == f"{fitted.frame_rate}/1" and fitted.frame_rate <= 15
    assert abs(int(video["nb_read_frames"]) - fitted.frame_rate * fitted.seconds) <= 2
    if container is VideoContainer.MP4:
        assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "Constrained Baseline", "yuv420p")
        assert fmt["major_brand"] in ("isom", "mp42")
        sound = ("aac", "LC", "24000", 1)
    else:
        assert video["codec_name"] == "h263" and (width, height) in H263_SIZES
        assert fmt["major_brand"].startswith("3gp")
        sound = ("amr_nb", None, "8000", 1)
    source_has_sound = probe_video(data).audio_codec is not None
    if source_has_sound:
        audio = seen["audio"]
        assert (audio["codec_name"], audio.get("profile"), audio["sample_rate"], audio["channels"]) == sound
    else:
        assert "audio" not in seen
    assert abs(float(fmt["duration"]) - fitted.seconds) < 0.3


def test_a_clip_that_does_not_fit_whole_is_cut_and_the_mms_says_so(made: dict[str, bytes], tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "camera@example.org"
    msg["Subject"] = "Motion detected"
    msg.set_content("Camera 2: motion at the gate")
    msg.add_attachment(made["camera-720p-h264-high.mp4"], maintype="video", subtype="mp4", filename="gate.mp4")
    profile = profile_from("video-basic", max_message_bytes=50_000)  # 3GP only; 12 s of it needs ~75 KB
    conv = convert_mail(bytes(msg), profile=profile)
    [part] = [p for p in conv.parts if p.content_type.media_type.startswith("video/")]
    assert part.content_type.media_type == "video/3gpp" and conv.budget_used <= profile.max_message_bytes
    seen = ffprobe(bytes(part.data), tmp_path)
    assert seen["video"]["codec_name"] == "h263" and 2 < float(seen["format"]["duration"]) < 12
    [note] = [c for c in conv.changes if c.startswith("gate.mp4 cut to")]
    assert note in conv.warnings
    # and the phone's last slide says so
    seconds = round(float(seen["format"]["duration"]))
    [last_text] = [bytes(p.data).decode() for p in conv.parts if p.content_type.media_type == "text/plain"]
    assert last_text.endswith(f"Cut to fit: gate.mp4 (the first {seconds} s)"), last_text


@pytest.mark.parametrize("name", ["turned.mp4", "mp4--androidx-media--iphone12-hevc-qt.mp4"])
def test_a_rotated_clip_comes_out_as_ffmpeg_shows_it(name: str, made: dict[str, bytes], tmp_path: Path) -> None:
    data = clip(name, made)
    source = tmp_path / "source"
    source.write_bytes(data)
    fitted = fit_video(data, container=VideoContainer.MP4, max_bytes=200_000, max_width=640, max_height=480,
                       time_limit_s=60)  # fmt: skip
    assert fitted.height > fitted.width  # both are shown upright, taller than wide
    ours = tmp_path / "ours.mp4"
    ours.write_bytes(fitted.data)

    def first_frame(path: Path) -> Image.Image:
        png = tmp_path / f"{path.name}.png"
        # ffmpeg applies the display rotation itself when it decodes (autorotate): its picture is the oracle
        subprocess.run(
            [ffmpeg(), "-v", "error", "-y", "-i", str(path), "-frames:v", "1", "-vf", "scale=120:160", str(png)],
            check=True,
        )
        return Image.open(png).convert("L")

    reference, shown = first_frame(source), first_frame(ours)

    def difference(image: Image.Image) -> float:
        return float(ImageStat.Stat(ImageChops.difference(reference, image)).mean[0])

    assert difference(shown) < 8 < difference(shown.transpose(Image.Transpose.ROTATE_180))


def test_a_route_without_video_gets_the_clips_still_picture(made: dict[str, bytes]) -> None:
    msg = EmailMessage()
    msg["From"] = "camera@example.org"
    msg["Subject"] = "Motion detected"
    msg.set_content("Camera 2")
    msg.add_attachment(made["camera-720p-h264-high.mp4"], maintype="video", subtype="mp4", filename="gate.mp4")
    profile = PROFILES["image-rich"]  # pictures, no video
    conv = convert_mail(bytes(msg), profile=profile)
    [image] = [i for i in conv.items if i.kind == "image"]
    assert image.media_type == "image/jpeg" and image.source == "gate.jpg"
    assert (image.width, image.height) == (640, 360)
    assert not any(p.content_type.media_type.startswith("video/") for p in conv.parts)
    assert "gate.mp4 sent as a still picture (this route takes no video)" in conv.changes
    assert conv.budget_used <= profile.max_message_bytes


def test_a_clip_that_takes_too_long_is_left_out_and_the_text_still_goes(made: dict[str, bytes]) -> None:
    msg = EmailMessage()
    msg["From"] = "camera@example.org"
    msg["Subject"] = "Motion"
    msg.set_content("Camera 2")
    msg.add_attachment(made["camera-720p-h264-high.mp4"], maintype="video", subtype="mp4", filename="gate.mp4")
    conv = convert_mail(bytes(msg), options=ConvertOptions(media_time_limit_s=0.01))
    assert not any(p.content_type.media_type.startswith("video/") for p in conv.parts)
    # both forms ran out of time; its still picture is what is sent, and the sender is told why
    assert any(c.startswith("gate.mp4 sent as a still picture (converting it took over 0.01 s)") for c in conv.changes)
    assert any(p.content_type.media_type == "text/plain" for p in conv.parts)


def test_a_clip_a_phone_plays_passes_untouched() -> None:
    data = (MEDIA / "3gp--file-type--coremedia-h263-amr.3gp").read_bytes()  # H.263 + AMR-NB, 176x144, 80 KB
    msg = EmailMessage()
    msg["Subject"] = "Clip"
    msg.add_attachment(data, maintype="video", subtype="3gpp", filename="clip.3gp")
    for profile in (DEFAULT_PROFILE, PROFILES["video-basic"]):
        conv = convert_mail(bytes(msg), profile=profile)
        [part] = [p for p in conv.parts if p.content_type.media_type == "video/3gpp"]
        assert bytes(part.data) == data and not conv.changes


def test_a_phone_clip_in_h264_high_or_hevc_is_transcoded_even_when_small(tmp_path: Path) -> None:
    for name in ("mp4--androidx-media--samsung-slowmo-sef.mp4", "mp4--androidx-media--iphone12-hevc-qt.mp4"):
        data = (MEDIA / name).read_bytes()
        msg = EmailMessage()
        msg["Subject"] = "Clip"
        msg.add_attachment(data, maintype="video", subtype="mp4", filename="clip.mp4")
        conv = convert_mail(bytes(msg))
        [part] = [p for p in conv.parts if p.content_type.media_type == "video/mp4"]
        seen = ffprobe(bytes(part.data), tmp_path)["video"]
        assert (seen["codec_name"], seen["profile"]) == ("h264", "Constrained Baseline")


def test_music_goes_as_aac_when_it_fits_whole_and_as_amr_when_not(tmp_path: Path) -> None:
    mp3 = (MEDIA / "mp3--androidx-media--vbr-xing.mp3").read_bytes()
    roomy = fit_audio(mp3, max_bytes=100_000, aac=True)
    seen = ffprobe(roomy.data, tmp_path)["audio"]
    assert roomy.media_type == "audio/mp4" and (seen["codec_name"], seen["profile"]) == ("aac", "LC")
    tight = fit_audio(mp3, max_bytes=8_000, aac=True)  # 2.8 s at 48 kbit/s is 17 KB: AMR-NB holds it
    assert tight.media_type == "audio/amr" and ffprobe(tight.data, tmp_path)["audio"]["codec_name"] == "amr_nb"
    ogg = tmp_path / "song.ogg"  # Ogg/Opus: a type no phone's MMS client takes
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine", "-t", "5", "-c:a", "libopus", str(ogg)],
                   check=True)  # fmt: skip
    msg = EmailMessage()
    msg["Subject"] = "Song"
    msg.add_attachment(ogg.read_bytes(), maintype="audio", subtype="ogg", filename="song.ogg")
    conv = convert_mail(bytes(msg))
    assert [p.content_type.media_type for p in conv.parts if p.content_type.media_type.startswith("audio/")] == [
        "audio/mp4"
    ]
    assert [i.source for i in conv.items if i.kind == "audio"] == ["song.m4a"]


@pytest.mark.parametrize("name", ["camera-720p-h264-high.mp4", "mp4--androidx-media--iphone12-hevc-qt.mp4"])
def test_a_truncated_or_damaged_clip_is_converted_or_dropped_never_a_traceback(
    name: str, made: dict[str, bytes]
) -> None:
    data = clip(name, made)
    outcomes = set()
    for cut in (16, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 100):
        for damaged in (data[:cut], data[:cut] + bytes(2000) + data[cut + 2000 :]):
            try:
                fitted = fit_video(damaged, container=VideoContainer.MP4, max_bytes=60_000, max_width=640,
                                   max_height=480, time_limit_s=30)  # fmt: skip
            except MediaDropped:
                outcomes.add("dropped")
            else:
                assert len(fitted.data) <= 60_000
                outcomes.add("fitted")
    assert outcomes == {"dropped", "fitted"}


def _mjpeg_mov(tmp: Path, size: str, rate: str = "25", frames: int = 1) -> bytes:
    path = tmp / f"bomb-{size}.mov"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:size={size}:rate={rate}",
         "-frames:v", str(frames), "-c:v", "mjpeg", "-q:v", "31", str(path)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


def _bomb_mail(data: bytes) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Clip"
    msg.set_content("see the clip")
    msg.add_attachment(data, maintype="video", subtype="quicktime", filename="bomb.mov")
    return bytes(msg)


def test_a_video_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    huge = _mjpeg_mov(tmp_path, "9000x4400")  # 39.6 megapixels a frame, a 200 KB file
    with pytest.raises(MediaDropped, match="9000x4400 pixels per frame"):
        probe_video(huge)
    outcome, grown = peak_growth(tmp_path, _bomb_mail(huge), "convert")
    assert outcome == "ok" and grown < 60, grown  # the text went; a decoded frame alone would be 59 MiB
    conv = convert_mail(_bomb_mail(huge))
    assert any(d.startswith("bomb.mov (9000x4400 pixels per frame") for d in conv.dropped)
    # two frames a day apart: the clip says it lasts 48 hours
    long = _mjpeg_mov(tmp_path, "64x48", rate="1/86400", frames=3)
    with pytest.raises(MediaDropped, match="it says it lasts"):
        probe_video(long)


def test_a_header_that_lies_about_the_frame_size_does_not_get_past_the_decoder(tmp_path: Path) -> None:
    data = bytearray(_mjpeg_mov(tmp_path, "9000x4400"))
    # the QuickTime sample description claims 90x44; the JPEG inside is still 9000x4400
    at = data.index(b"jpeg", data.index(b"stsd"))
    width_at = at + 4 + 6 + 2 + 16  # format, reserved, data reference index, version/revision/vendor/qualities
    assert data[width_at : width_at + 4] == (9000).to_bytes(2, "big") + (4400).to_bytes(2, "big")
    data[width_at : width_at + 4] = (90).to_bytes(2, "big") + (44).to_bytes(2, "big")
    outcome, grown = peak_growth(tmp_path, _bomb_mail(bytes(data)), "convert")
    assert outcome == "ok" and grown < 60, grown
    conv = convert_mail(_bomb_mail(bytes(data)))
    assert any(d.startswith("bomb.mov (") for d in conv.dropped), conv.dropped


SOUND_AND_VIDEO = sorted(
    p.name for p in MEDIA.iterdir() if p.name.split("--")[0] in ("mp4", "3gp", "mp3", "aac", "amr")
)
BRIDGE = Path(sys.executable).with_name("bridge")


def test_every_sound_and_clip_through_bridge_convert_is_played_and_fits(tmp_path: Path) -> None:
    """The issue's check, through the command people run: each file of ../shared/media in a mail, `bridge convert`
    with two budgets; every part as ffprobe reads it, the whole PDU within budget and clean in tshark."""
    pdus: list[tuple[str, bytes]] = []
    for name in SOUND_AND_VIDEO:
        msg = EmailMessage()
        msg["From"] = "phone@example.org"
        msg["Subject"] = "Clip"
        msg.set_content("From my phone")
        msg.add_attachment((MEDIA / name).read_bytes(), maintype="application", subtype="octet-stream", filename=name)
        src = tmp_path / f"{name}.eml"
        src.write_bytes(bytes(msg))
        for profile, playable in (("default", DEFAULT_PROFILE.allowed_types), ("video-basic", VIDEO_BASIC)):
            out = tmp_path / f"{name}.{profile}.mms"
            run = subprocess.run(
                [str(BRIDGE), "convert", str(src), "-o", str(out), "--profile", profile],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, (name, profile, run.stderr)
            data = out.read_bytes()
            assert len(data) <= (PROFILES[profile].max_message_bytes if profile != "default" else 300 * 1024)
            pdu = decode_pdu(data)
            assert isinstance(pdu, RetrieveConf)
            media = [p for p in pdu.parts if p.content_type.media_type.split("/")[0] in ("audio", "video")]
            assert len(media) == 1, (name, profile, [p.content_type.media_type for p in pdu.parts])
            [part] = media
            assert part.content_type.media_type in playable, (name, profile, part.content_type.media_type)
            seen = ffprobe(bytes(part.data), tmp_path)
            if "video" in seen and part.content_type.media_type.startswith("video/"):
                shown = (int(seen["video"]["width"]), int(seen["video"]["height"]))
                assert max(shown) <= 640 and min(shown) <= 480
            assert "audio" in seen or "video" in seen
            pdus.append((f"{name} {profile}", data))
    results = dissect_pdus([data for _, data in pdus])
    bad = {what: seen.problems for (what, _), seen in zip(pdus, results, strict=True) if seen.problems}
    assert not bad and all("mmse" in seen.protocols for seen in results)

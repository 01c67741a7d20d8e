"""Pictures and clips from real cameras, phones and encoders (../shared/media), fitted to handsets."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageChops, ImageStat

from bridge.codec.mms import encode_pdu
from bridge.convert.compose import ConversionRefused, convert_mail, retrieve_conf
from bridge.convert.images import ImageDropped, fit_image, probe
from bridge.convert.profile import DEFAULT_PROFILE, PROFILES, Profile
from tests.convert.helpers import MEDIA, mail, media, photo

ORIENTED = sorted(MEDIA.glob("jpeg-orientation--*.jpg"))
ALL_IMAGES = ["image/jpeg", "image/png", "image/gif"]


def fit(data: bytes, profile: Profile = DEFAULT_PROFILE, max_bytes: int = 100_000):  # type: ignore[no-untyped-def]
    return fit_image(
        data,
        max_width=profile.max_image_width,
        max_height=profile.max_image_height,
        max_bytes=max_bytes,
        allowed_types=profile.allowed_types,
        max_pixels=profile.max_image_pixels,
    )


def _small_grey(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L").resize((48, 36))


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(a, b)).mean[0])


_TRANSFORMS = [None, *Image.Transpose]


def test_all_sixteen_orientation_samples_come_out_upright() -> None:
    """Each sample shows the same photo (with its own digit); the output must match the orientation-1 photo
    better untouched than under any of the seven other flips and rotations."""
    assert len(ORIENTED) == 16
    for kind in ("landscape", "portrait"):
        files = [p for p in ORIENTED if f"--{kind}-" in p.name]
        reference = fit(files[0].read_bytes())  # orientation 1: the upright photo
        ref = _small_grey(reference.data)
        for path in files:
            out = fit(path.read_bytes())
            assert (out.width, out.height) == (reference.width, reference.height), path.name
            full = Image.open(io.BytesIO(out.data)).convert("L")
            scores = {}
            for t in _TRANSFORMS:
                candidate = full if t is None else full.transpose(t)
                scores[t] = _difference(candidate.resize(ref.size), ref)
            best = min(scores, key=lambda t: scores[t])
            assert best is None, f"{path.name}: closest to the reference after {best} ({scores})"


def _markers(jpeg: bytes) -> set[int]:
    """The JPEG marker segments before the scan (APPn, COM, ...)."""
    found, i = set(), 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        found.add(marker)
        if marker == 0xDA:
            break
        i += 2 + struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
    return found


@pytest.mark.parametrize(
    "name",
    [
        "jpeg-gps--exif-samples--nikon-p6000.jpg",
        "jpeg-gps--androidx-media--iphone6s.jpg",
        "jpeg-camera--exif-samples--iphone6.jpg",
        "jpeg-camera--exif-samples--canon-sx60hs.jpg",
        "jpeg-camera--exif-samples--nikon-e950.jpg",
        "jpeg-camera--androidx-media--pixel4xl-motionphoto.jpg",
        "jpeg-camera--androidx-media--samsung-s20u-motionphoto.jpg",
        "jpeg-progressive--androidx-media--pixel7pro-gimp.jpg",
        "webp--pillow--flower2-icc-exif-xmp.webp",
        "heic-grid--exif-samples--iphone11promax.heic",
    ],
)
def test_phone_photos_come_out_without_any_metadata(name: str) -> None:
    out = fit(media(name))
    assert out.media_type == "image/jpeg"
    markers = _markers(out.data)
    # only JFIF (APP0) may remain: no EXIF/XMP (APP1), ICC (APP2), vendor APPn, Photoshop (APP13) or comments
    assert not ({0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xED, 0xEE, 0xFE} & markers), sorted(hex(m) for m in markers)
    assert out.data.endswith(b"\xff\xd9")  # and no trailing motion-photo video or vendor trailer
    im = Image.open(io.BytesIO(out.data))
    assert not im.getexif()
    assert "icc_profile" not in im.info


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("jpeg-camera--exif-samples--canon-sx60hs.jpg", (1536, 2048)),
        ("jpeg-camera--androidx-media--pixel4xl-motionphoto.jpg", (3024, 4032)),
        ("jpeg-camera--androidx-media--samsung-s20u-motionphoto.jpg", (3000, 4000)),
        ("heic-grid--file-type--iphone7plus.heic", (3024, 4032)),  # irot applied once, not twice
        ("heic-grid--exif-samples--iphone11promax.heic", (2566, 3313)),
        ("heic--libheif--example.heic", (1280, 854)),
    ],
)
def test_cameras_rotated_pictures_keep_their_shown_shape(name: str, shown: tuple[int, int]) -> None:
    info = probe(media(name), max_pixels=DEFAULT_PROFILE.max_image_pixels)
    assert (info.width, info.height) == shown
    out = fit(media(name))
    portrait = shown[1] > shown[0]
    assert (out.height > out.width) == portrait, (out.width, out.height)
    assert out.width <= 640 and out.height <= 480


@pytest.mark.parametrize(
    "name",
    [
        "jpeg-cmyk--pillow--photoshop-cmyk.jpg",
        "png-16bit--pngsuite--basn2c16-rgb.png",
        "png-16bit--pngsuite--basn6a16-rgba.png",
        "png-alpha--pillow--transparent-rgba.png",
        "png-alpha--pillow--palette-trns.png",
        "webp--pillow--transparent-alpha.webp",
        "webp--file-type--simple-vp8.webp",
        "webp-animated--pillow--iss634.webp",
    ],
)
def test_odd_modes_become_pictures_handsets_show(name: str) -> None:
    out = fit(media(name))
    im = Image.open(io.BytesIO(out.data))
    assert out.media_type in ("image/jpeg", "image/png")
    assert im.mode in ("RGB", "L")
    assert getattr(im, "n_frames", 1) == 1


def test_transparency_is_flattened_on_white() -> None:
    out = fit(media("png-alpha--pillow--transparent-rgba.png"))
    im = Image.open(io.BytesIO(out.data)).convert("RGB")
    assert im.getpixel((0, 0)) == (255, 255, 255)  # a fully transparent corner


def test_an_animated_gif_is_kept_when_it_fits_else_its_first_frame() -> None:
    data = media("gif-animated--pillow--chi.gif")
    whole = fit(data, max_bytes=len(data))
    assert whole.animated and whole.data == data
    first = fit(data, max_bytes=len(data) - 1)
    assert not first.animated
    assert getattr(Image.open(io.BytesIO(first.data)), "n_frames", 1) == 1


@pytest.mark.parametrize(
    "name", ["jpeg-truncated--pillow--pixel6-ultrahdr-cut.jpg", "jpeg-truncated--pillow--progressive-cut.jpg"]
)
def test_truncated_jpegs_are_dropped_with_a_note(name: str) -> None:
    with pytest.raises(ImageDropped, match="damaged"):
        fit(media(name))
    conv = convert_mail(mail("See the photo", attachments=[(media(name), "image/jpeg", "cut.jpg")]))
    assert not [i for i in conv.items if i.kind == "image"]
    assert any(d.startswith("cut.jpg (the picture is damaged") for d in conv.dropped)
    text = b"".join(bytes(p.data) for p in conv.parts if p.content_type.media_type == "text/plain").decode()
    assert "Not sent: cut.jpg" in text


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_dropped_with_a_note_before_decoding() -> None:
    bomb = _png_header_only(20_000, 20_000)
    with pytest.raises(ImageDropped, match="20000x20000 pixels is over the limit"):
        fit(bomb)
    conv = convert_mail(mail("Look", attachments=[(bomb, "image/png", "bomb.png")]))
    assert any("bomb.png (20000x20000" in d for d in conv.dropped)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_a_12_megapixel_photo_fits_every_content_class(profile: str) -> None:
    budget = PROFILES[profile]
    conv = convert_mail(
        mail("Front door", attachments=[(photo(4032, 3024), "image/jpeg", "IMG_0001.JPG")]), profile=budget
    )
    data = encode_pdu(retrieve_conf(conv, to=("+12015554567/TYPE=PLMN",), message_id="m" * 40))
    assert len(data) <= budget.max_message_bytes
    images = [i for i in conv.items if i.kind == "image"]
    if any(t.startswith("image/") for t in budget.allowed_types):
        [image] = images
        assert image.width is not None and image.height is not None
        assert image.width <= budget.max_image_width and image.height <= budget.max_image_height
    else:
        assert not images and any("takes no pictures" in d for d in conv.dropped)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("amr--androidx-media--nb.amr", "audio/amr"),
        ("amr--androidx-media--wb.amr", "audio/amr-wb"),
        ("mp3--file-type--lame.mp3", "audio/mpeg"),
        ("mp3--androidx-media--vbr-xing.mp3", "audio/mpeg"),
        ("aac--file-type--adts-44k-stereo.aac", "audio/aac"),
        ("aac--file-type--adts-16k-mono-cut-tail.aac", "audio/aac"),
        ("aac--file-type--coremedia.m4a", "audio/mp4"),
        ("3gp--file-type--coremedia-h263-amr.3gp", "video/3gpp"),
        ("3gp--androidx-media--amrnb-audio-only.3gp", "video/3gpp"),
    ],
)
def test_audio_and_video_pass_through_untouched(name: str, media_type: str) -> None:
    data = media(name)
    conv = convert_mail(mail("Listen", attachments=[(data, "application/octet-stream", name)]))
    [part] = [p for p in conv.parts if p.content_type.media_type == media_type]
    assert bytes(part.data) == data


def test_a_clip_the_route_cannot_take_leaves_only_a_note_or_a_refusal() -> None:
    clip = media("3gp--file-type--coremedia-h263-amr.3gp")  # 80 KB
    with pytest.raises(ConversionRefused) as info:
        convert_mail(mail(None, subject="", attachments=[(clip, "video/3gpp", "clip.3gp")]), profile=PROFILES["text"])
    # the text class takes no video and no picture: nothing is left to send
    assert info.value.status == "5.6.1" and "clip.3gp (this route takes no video)" in info.value.reason
    conv = convert_mail(mail("Clip", attachments=[(clip, "video/3gpp", "clip.3gp")]), profile=PROFILES["text"])
    assert conv.dropped == ("clip.3gp (this route takes no video)",)
    assert [p.content_type.media_type for p in conv.parts] == ["application/smil", "text/plain"]

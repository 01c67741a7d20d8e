"""Pictures fitted to a handset's budget, with Pillow (and pillow-heif for HEIC/HEIF).

Owns the picture path: open, refuse bombs before decoding, JPEG DCT-domain scaling with `draft()` before any
resize, EXIF orientation applied, every piece of metadata left behind (EXIF, GPS, XMP, ICC, comments, trailing
data), modes normalised (CMYK, 16-bit, palette, alpha flattened on white), resized to the profile's largest
dimensions, and re-encoded as the smallest allowed format under a byte budget (a search over JPEG quality; PNG
or GIF kept when smaller and allowed; an animated GIF kept whole when it fits).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from bridge.errors import ImageDropped

pillow_heif.register_heif_opener()

#: Pillow's own bomb check would warn or raise at its global limit; ours is per profile and runs first.
Image.MAX_IMAGE_PIXELS = None

#: above this a handset screen shows no difference, only more bytes
JPEG_QUALITY_MAX = 85
JPEG_QUALITY_MIN = 25
#: below this edge a picture is no longer worth sending
MIN_EDGE = 48
#: the decoded raster one picture may take (width x height x bytes per pixel, after JPEG DCT scaling): 96 MiB,
#: a 24-megapixel RGBA or 32-megapixel RGB picture. Converting modes makes up to two more rasters of that order,
#: so one decode peaks near three times this; a 9999x9999 RGBA PNG (400 MB decoded) is refused before decoding.
MAX_DECODE_BYTES = 96 * 1024 * 1024
#: bytes per pixel of a decoded raster, by Pillow mode (unlisted modes count 4)
_MODE_BYTES = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "PA": 2,
    "La": 2,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "RGB": 3,
    "YCbCr": 3,
}
_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedImage:
    data: bytes
    media_type: str
    width: int
    height: int
    animated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageInfo:
    """What is known of a picture before decoding it: format and displayed size (orientation applied)."""

    format: str
    width: int
    height: int
    frames: int

    @property
    def area(self) -> int:
        return self.width * self.height


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDropped(f"not a readable picture ({exc.__class__.__name__})") from exc


def probe(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Format and displayed size from the header alone; a bomb is refused here, before any decoding."""
    im = _open(data)
    w, h = im.size
    if w * h > max_pixels:
        raise ImageDropped(f"{w}x{h} pixels is over the limit of {max_pixels:,} (a decompression bomb?)")
    if w <= 0 or h <= 0:
        raise ImageDropped("a picture without pixels")
    orientation = _orientation(im)
    if orientation in _SWAPS_AXES:
        w, h = h, w
    return ImageInfo(format=im.format or "", width=w, height=h, frames=getattr(im, "n_frames", 1))


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _scaled(w: int, h: int, max_w: int, max_h: int) -> tuple[int, int]:
    scale = min(1.0, max_w / w, max_h / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _decode(data: bytes, max_w: int, max_h: int, max_pixels: int) -> Image.Image:
    """The picture upright, in RGB or L, at most max_w x max_h."""
    im = _open(data)
    w, h = im.size
    if w * h > max_pixels:
        raise ImageDropped(f"{w}x{h} pixels is over the limit of {max_pixels:,} (a decompression bomb?)")
    orientation = _orientation(im)
    if im.format == "JPEG":
        # DCT-domain scaling: decode at 1/2, 1/4 or 1/8 of the size, never below what we need
        need = (max_h, max_w) if orientation in _SWAPS_AXES else (max_w, max_h)
        need = _scaled(w, h, *need)
        im.draft("RGB" if im.mode not in ("L", "CMYK") else im.mode, need)
    raster = im.width * im.height * _MODE_BYTES.get(im.mode, 4)
    if raster > MAX_DECODE_BYTES:
        raise ImageDropped(
            f"{im.width}x{im.height} {im.mode} would take {raster // 2**20} MiB to decode "
            f"(at most {MAX_DECODE_BYTES // 2**20} MiB)"
        )
    try:
        im.load()
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        raise ImageDropped(f"the picture is damaged ({exc.__class__.__name__})") from exc
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
    im = _normalise_mode(im)
    target = _scaled(im.width, im.height, max_w, max_h)
    if target != im.size:
        # After DCT scaling the remaining step is small (under 2x); Pillow's antialiased bicubic is as sharp
        # there as Lanczos at two thirds of the cost.
        im = im.resize(target, Image.Resampling.BICUBIC)
    return im


def _normalise_mode(im: Image.Image) -> Image.Image:
    """RGB or L: CMYK converted, 16-bit reduced, palette expanded, transparency flattened on white."""
    if im.mode in ("RGB", "L"):
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return im.point(lambda v: v / 256).convert("L") if im.mode != "I" else im.convert("L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, optimize=False, progressive=False, subsampling="4:2:0")
    return out.getvalue()


def _png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _fit_jpeg(im: Image.Image, max_bytes: int) -> bytes | None:
    """The best JPEG quality whose file fits `max_bytes` (binary search), or None."""
    lo, hi = JPEG_QUALITY_MIN, JPEG_QUALITY_MAX
    best: bytes | None = None
    first = _jpeg(im, hi)  # most pictures fit at the top quality: one encode
    if len(first) <= max_bytes:
        return first
    hi -= 1
    while lo <= hi:
        q = (lo + hi) // 2
        data = _jpeg(im, q)
        if len(data) <= max_bytes:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best


def fit_image(
    data: bytes,
    *,
    max_width: int,
    max_height: int,
    max_bytes: int,
    allowed_types: frozenset[str],
    max_pixels: int,
) -> FittedImage:
    """`data` as a picture of at most max_width x max_height and max_bytes octets, in an allowed type."""
    if "image/jpeg" not in allowed_types and "image/png" not in allowed_types and "image/gif" not in allowed_types:
        raise ImageDropped("this route takes no pictures")
    info = probe(data, max_pixels=max_pixels)
    if (
        info.format == "GIF"
        and info.frames > 1
        and "image/gif" in allowed_types
        and len(data) <= max_bytes
        and info.width <= max_width
        and info.height <= max_height
    ):
        return FittedImage(data=data, media_type="image/gif", width=info.width, height=info.height, animated=True)
    w, h = max_width, max_height
    while True:
        im = _decode(data, w, h, max_pixels)
        candidates: list[tuple[bytes, str]] = []
        if "image/jpeg" in allowed_types:
            jpeg = _fit_jpeg(im, max_bytes)
            if jpeg is not None:
                candidates.append((jpeg, "image/jpeg"))
        if info.format in ("PNG", "GIF", "BMP", "WEBP") and "image/png" in allowed_types:
            # drawings and screenshots: lossless may be smaller than JPEG, and is sharper
            png = _png(im)
            if len(png) <= max_bytes:
                candidates.append((png, "image/png"))
        if candidates:
            best, media_type = min(candidates, key=lambda c: len(c[0]))
            return FittedImage(data=best, media_type=media_type, width=im.width, height=im.height)
        if min(im.width, im.height) * 3 // 4 < MIN_EDGE:
            raise ImageDropped(f"it cannot be made smaller than {max_bytes:,} bytes")
        w, h = im.width * 3 // 4, im.height * 3 // 4

"""Content budgets: what a route's handsets accept, by OMA-MMS-CONF content class or by explicit limits.

The class rows follow the table the design card gives (OMA-MMS-CONF 1.2/1.3 "content classes"): the message
size limit, the largest image, and the media types each class admits. The default profile is what works on
every real network: 300 KB and 640x480, any type handsets render.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.codec.mms import ContentClass
from bridge.errors import ConfigError

KB = 1024

TEXT_TYPES = frozenset({"text/plain"})
IMAGE_BASIC_TYPES = frozenset({"image/jpeg", "image/gif", "image/vnd.wap.wbmp"})
IMAGE_RICH_TYPES = IMAGE_BASIC_TYPES | {"image/png"}
AUDIO_BASIC_TYPES = frozenset({"audio/amr", "audio/midi", "audio/sp-midi"})
AUDIO_RICH_TYPES = AUDIO_BASIC_TYPES | {"audio/amr-wb", "audio/mpeg", "audio/mp4", "audio/aac", "audio/wav"}
VIDEO_BASIC_TYPES = frozenset({"video/3gpp"})
VIDEO_RICH_TYPES = VIDEO_BASIC_TYPES | {"video/mp4", "video/3gpp2"}
ALL_TYPES = TEXT_TYPES | IMAGE_RICH_TYPES | AUDIO_RICH_TYPES | VIDEO_RICH_TYPES
BASIC_MEDIA_TYPES = TEXT_TYPES | IMAGE_RICH_TYPES | AUDIO_BASIC_TYPES | VIDEO_BASIC_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """The budget of one route: the encoded PDU never exceeds `max_message_bytes`."""

    name: str
    max_message_bytes: int = 300 * KB
    max_image_width: int = 640
    max_image_height: int = 480
    allowed_types: frozenset[str] = field(default=ALL_TYPES)
    content_class: ContentClass | None = None
    #: an image with more pixels than this is refused before it is decoded (a decompression bomb)
    max_image_pixels: int = 100_000_000
    #: at most this many pictures, sounds and clips in one message (0: no limit but the size)
    max_media_parts: int = 0
    #: the largest sound or clip (0: its share of the budget is the only limit)
    max_clip_bytes: int = 0

    def __post_init__(self) -> None:
        if self.max_message_bytes < 2 * KB:
            raise ConfigError(f"profile {self.name}: max_message_bytes must be at least 2048")
        if min(self.max_image_width, self.max_image_height) < 16:
            raise ConfigError(f"profile {self.name}: image limits must be at least 16x16 pixels")
        if self.max_media_parts < 0 or self.max_clip_bytes < 0:
            raise ConfigError(f"profile {self.name}: max_media_parts and max_clip_bytes must be 0 (no limit) or more")

    def allows(self, media_type: str) -> bool:
        return media_type in self.allowed_types


def _class(name: str, cc: ContentClass, size: int, w: int, h: int, types: frozenset[str]) -> Profile:
    return Profile(
        name=name,
        max_message_bytes=size,
        max_image_width=w,
        max_image_height=h,
        allowed_types=types,
        content_class=cc,
    )


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        _class("text", ContentClass.TEXT, 30 * KB, 160, 120, TEXT_TYPES),
        _class("image-basic", ContentClass.IMAGE_BASIC, 30 * KB, 160, 120, TEXT_TYPES | IMAGE_BASIC_TYPES),
        _class("image-rich", ContentClass.IMAGE_RICH, 100 * KB, 640, 480, TEXT_TYPES | IMAGE_RICH_TYPES),
        _class("video-basic", ContentClass.VIDEO_BASIC, 100 * KB, 640, 480, BASIC_MEDIA_TYPES),
        _class("video-rich", ContentClass.VIDEO_RICH, 300 * KB, 640, 480, ALL_TYPES),
        _class("megapixel", ContentClass.MEGAPIXEL, 600 * KB, 1600, 1200, TEXT_TYPES | IMAGE_RICH_TYPES),
        _class("content-basic", ContentClass.CONTENT_BASIC, 100 * KB, 640, 480, BASIC_MEDIA_TYPES),
        _class("content-rich", ContentClass.CONTENT_RICH, 300 * KB, 1600, 1200, ALL_TYPES),
        # The REST aggregators' documented limits (../shared/rest-apis/README.md, "Facts for the adapters"); they
        # take the parts one by one by URL, and resize for each carrier themselves, so pictures may be large.
        # Twilio: at most 10 MediaUrl, 5 MB per picture, 500 KB for other types (its MediaUrl description).
        Profile(name="twilio", max_message_bytes=5_000_000, max_image_width=1600, max_image_height=1600,
                max_media_parts=10, max_clip_bytes=500_000),
        # Telnyx: "the total media size must be less than 1 MB" (CreateMessageRequest.media_urls); 10 media URLs.
        Profile(name="telnyx", max_message_bytes=999_000, max_image_width=1280, max_image_height=1280,
                max_media_parts=10),
        # Bandwidth: "the API limits file size to 3.5MB" (mmsMessageContentFile.fileUrl); no count is stated.
        Profile(name="bandwidth", max_message_bytes=3_500_000, max_image_width=1600, max_image_height=1600),
    )
}  # fmt: skip
DEFAULT_PROFILE = Profile(name="default")


def profile_named(name: str) -> Profile:
    if name == "default":
        return DEFAULT_PROFILE
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r} (known: default, {', '.join(PROFILES)})") from None


def profile_from(
    name: str,
    *,
    max_message_bytes: int = 0,
    max_image_width: int = 0,
    max_image_height: int = 0,
    max_image_pixels: int | None = None,
) -> Profile:
    """A named profile with the explicit limits that are not 0 put over its own."""
    base = profile_named(name)
    return Profile(
        name=base.name,
        max_message_bytes=max_message_bytes or base.max_message_bytes,
        max_image_width=max_image_width or base.max_image_width,
        max_image_height=max_image_height or base.max_image_height,
        allowed_types=base.allowed_types,
        content_class=base.content_class,
        max_image_pixels=max_image_pixels if max_image_pixels is not None else base.max_image_pixels,
        max_media_parts=base.max_media_parts,
        max_clip_bytes=base.max_clip_bytes,
    )


def strictest(profiles: list[Profile]) -> Profile:
    """One budget that every route of a mail's recipients accepts: the smallest size and image limits, the media
    types all of them allow (the mail is converted once for all its recipients)."""
    first = profiles[0]
    if all(p == first for p in profiles):
        return first
    classes = {p.content_class for p in profiles}
    allowed = frozenset.intersection(*(p.allowed_types for p in profiles))
    return Profile(
        name="+".join(sorted({p.name for p in profiles})),
        max_message_bytes=min(p.max_message_bytes for p in profiles),
        max_image_width=min(p.max_image_width for p in profiles),
        max_image_height=min(p.max_image_height for p in profiles),
        allowed_types=allowed,
        content_class=classes.pop() if len(classes) == 1 else None,
        max_image_pixels=min(p.max_image_pixels for p in profiles),
        max_media_parts=_least_limit(p.max_media_parts for p in profiles),
        max_clip_bytes=_least_limit(p.max_clip_bytes for p in profiles),
    )


def _least_limit(limits: Iterable[int]) -> int:
    """The smallest of limits where 0 means none."""
    return min((n for n in limits if n), default=0)

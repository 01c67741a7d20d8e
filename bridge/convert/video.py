"""Video fitted to what phones play, with FFmpeg's libraries through PyAV.

Any clip FFmpeg decodes (H.264/HEVC in MP4 or QuickTime, MPEG-4 Part 2 in AVI, VP8/VP9 in WebM, H.263 in 3GP,
slow-motion and variable-frame-rate phone clips) becomes one of the two forms OMA-MMS-CONF's content classes name:
MP4 with H.264 Constrained Baseline and AAC-LC (ISO/IEC 14496-14; the default and rich classes) or 3GP with
H.263 and AMR-NB (3GPP TS 26.244; `video-basic`, where H.263 takes only its standard sizes, ITU-T H.263 table 1).

The budget decides the rest, in this order: the bitrate the whole clip can have; when even the least watchable
bitrate does not fit, the clip is cut to the length that does (`cut`); then the frame rate and the resolution that
bitrate carries. The display rotation a phone records is applied, so portrait clips stay upright. A clip with
absurd dimensions or length is refused before anything is decoded, the decoder itself is told the largest frame
it may allocate (a header may lie), and each clip has a time limit, so a clip's cost is bounded by its budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import cast

import av
from PIL import Image

from bridge.errors import MediaDropped

#: 8K (DCI): no phone or camera records more; a frame larger than this is a decoder bomb
MAX_VIDEO_PIXELS = 8192 * 4352
#: a claimed length beyond this is not a clip anyone mails
MAX_SOURCE_SECONDS = 6 * 3600
MAX_STREAMS = 16
#: below this a clip is not worth sending
MIN_SECONDS = 1.0
#: H.263's standard picture sizes (ITU-T H.263 table 1) that phones play, smallest first
H263_SIZES = ((128, 96), (176, 144), (352, 288))
#: what the container adds: a fixed part, and an index entry per frame (mp4/3gp `stts`/`stsz`/`stco`)
CONTAINER_FIXED_BYTES = 2048
CONTAINER_BYTES_PER_SECOND = 600
#: bits per pixel per frame that H.264 at these sizes needs to look like video, not mosaic
H264_BITS_PER_PIXEL = 0.1
H263_BITS_PER_PIXEL = 0.2
#: the encoded size may pass the target by what a rate controller's buffer holds; retries give back the excess
ATTEMPTS = 3


class VideoContainer(StrEnum):
    """The two forms a clip is sent in (OMA-MMS-CONF content classes)."""

    MP4 = "mp4"
    THREE_GP = "3gp"

    @property
    def media_type(self) -> str:
        return "video/mp4" if self is VideoContainer.MP4 else "video/3gpp"

    @property
    def extension(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class _Form:
    video_codec: str
    audio_codec: str
    audio_rate: int
    audio_bps: int
    min_video_bps: int
    bits_per_pixel: float


_FORMS = {
    VideoContainer.MP4: _Form(
        video_codec="libx264",
        audio_codec="aac",
        audio_rate=24_000,
        audio_bps=32_000,
        min_video_bps=48_000,
        bits_per_pixel=H264_BITS_PER_PIXEL,
    ),
    VideoContainer.THREE_GP: _Form(
        video_codec="h263",
        audio_codec="libopencore_amrnb",
        audio_rate=8000,
        audio_bps=12_200,
        min_video_bps=32_000,
        bits_per_pixel=H263_BITS_PER_PIXEL,
    ),
}

#: what a phone plays as it is, by the media type it arrives as: video codecs, H.264 profiles, audio codecs
PLAYABLE_VIDEO = {
    "video/mp4": frozenset({"h264", "mpeg4", "h263"}),
    "video/3gpp": frozenset({"h263", "h264", "mpeg4"}),
}
PLAYABLE_H264_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main"})
PLAYABLE_AUDIO = frozenset({"aac", "amr_nb"})


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoInfo:
    """What a clip holds, from its headers and its first frame."""

    #: None for a clip that holds only sound
    video_codec: str | None
    video_profile: str | None
    audio_codec: str | None
    #: the size it is shown at, its rotation applied
    width: int
    height: int
    #: clockwise degrees a player turns the stored frames by (0, 90, 180, 270)
    rotation: int
    seconds: float | None
    frame_rate: float | None

    def playable_as(self, media_type: str, *, max_width: int, max_height: int) -> bool:
        """A phone of a route with these picture limits plays it as it is."""
        if self.video_codec is None:
            return self.audio_codec in PLAYABLE_AUDIO
        if self.video_codec not in PLAYABLE_VIDEO.get(media_type, ()):
            return False
        if self.video_codec == "h264" and self.video_profile not in PLAYABLE_H264_PROFILES:
            return False
        if self.audio_codec is not None and self.audio_codec not in PLAYABLE_AUDIO:
            return False
        long_side, short_side = max(max_width, max_height), min(max_width, max_height)
        return max(self.width, self.height) <= long_side and min(self.width, self.height) <= short_side


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedVideo:
    data: bytes
    media_type: str
    width: int
    height: int
    frame_rate: int
    video_bps: int
    seconds: float
    #: the clip was longer than the budget allowed and was cut at `seconds`
    cut: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoPlan:
    """The form one clip is encoded in: chosen from the budget before any frame is decoded."""

    container: VideoContainer
    width: int
    height: int
    #: the size the picture is scaled to inside width x height (H.263 pads to its standard size)
    picture_width: int
    picture_height: int
    frame_rate: int
    video_bps: int
    audio_bps: int
    seconds: float
    cut: bool


def _open(data: bytes) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaDropped(f"not a video FFmpeg can read ({type(exc).__name__})") from exc


def _rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees to turn the stored frame by. FFmpeg's display matrix angle is counter-clockwise."""
    return round(-frame.rotation / 90) % 4 * 90


def _checked_stream(source: av.container.InputContainer) -> av.VideoStream:
    if len(source.streams) > MAX_STREAMS:
        raise MediaDropped(f"{len(source.streams)} streams (at most {MAX_STREAMS})")
    stream = next(iter(source.streams.video), None)
    if stream is None:
        raise MediaDropped("no video in it")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_VIDEO_PIXELS:
        raise MediaDropped(f"{width}x{height} pixels per frame (a decoder bomb?)")
    seconds = _seconds(source, stream)
    if seconds is not None and seconds > MAX_SOURCE_SECONDS:
        raise MediaDropped(f"it says it lasts {seconds:,.0f} s (a decoder bomb?)")
    # the header's size may lie: the decoder itself refuses to allocate a larger frame
    stream.codec_context.options = {"max_pixels": str(MAX_VIDEO_PIXELS)}
    stream.thread_type = "AUTO"
    return stream


def _seconds(source: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if source.duration is not None and source.duration > 0:
        return source.duration / av.time_base
    return None


def _first_frame(source: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame:
    for packet in source.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue
        for frame in frames:
            if isinstance(frame, av.VideoFrame):
                return frame
    raise MediaDropped("no picture in the video could be decoded")


def probe_video(data: bytes) -> VideoInfo:
    """What `data` holds, its first frame decoded for the rotation; MediaDropped for what is not a sane clip."""
    source = _open(data)
    try:
        audio = next(iter(source.streams.audio), None)
        if not source.streams.video and audio is not None and len(source.streams) <= MAX_STREAMS:
            # a 3GP voice recording: a clip without pictures, played as a sound
            seconds = source.duration / av.time_base if source.duration else None
            return VideoInfo(
                video_codec=None,
                video_profile=None,
                audio_codec=audio.codec.canonical_name,
                width=0,
                height=0,
                rotation=0,
                seconds=seconds,
                frame_rate=None,
            )
        stream = _checked_stream(source)
        frame = _first_frame(source, stream)
        rotation = _rotation(frame)
        width, height = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
        rate = stream.guessed_rate or stream.average_rate
        return VideoInfo(
            video_codec=stream.codec.canonical_name,
            video_profile=stream.codec_context.profile,
            audio_codec=audio.codec.canonical_name if audio is not None else None,
            width=width,
            height=height,
            rotation=rotation,
            seconds=_seconds(source, stream),
            frame_rate=float(rate) if rate else None,
        )
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise MediaDropped(f"the video could not be decoded ({type(exc).__name__})") from exc
    finally:
        source.close()


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def plan_video(
    info: VideoInfo, *, container: VideoContainer, max_bytes: int, max_width: int, max_height: int
) -> VideoPlan:
    """The largest form of `info` whose encoding fits in `max_bytes`, or MediaDropped when not even a second does."""
    form = _FORMS[container]
    audio_bps = form.audio_bps if info.audio_codec is not None else 0
    seconds = info.seconds or 10.0
    usable_bits = (max_bytes - CONTAINER_FIXED_BYTES) * 8
    per_second = CONTAINER_BYTES_PER_SECOND * 8 + audio_bps
    # the rate controller's buffer is one second of video: the clip may overshoot by that much, so it is counted
    video_bps = int((usable_bits - per_second * seconds) / (seconds + 1))
    cut = False
    if video_bps < form.min_video_bps:
        video_bps = form.min_video_bps
        fits = (usable_bits - video_bps) / (video_bps + per_second)
        if fits < MIN_SECONDS:
            raise MediaDropped(f"no room for even a second of video in {max_bytes:,} bytes")
        seconds, cut = float(int(fits * 10) / 10), True
    frame_rate = 15 if video_bps >= 150_000 else 12 if video_bps >= 80_000 else 10
    if info.frame_rate:
        frame_rate = max(1, min(frame_rate, round(info.frame_rate)))
    long_side, short_side = max(max_width, max_height), min(max_width, max_height)
    box_w, box_h = (long_side, short_side) if info.width >= info.height else (short_side, long_side)
    # the pixels the bitrate carries, then the box, then the source: never scaled up
    carried = video_bps / (frame_rate * form.bits_per_pixel)
    scale = min(1.0, (carried / (info.width * info.height)) ** 0.5, box_w / info.width, box_h / info.height)
    if container is VideoContainer.THREE_GP:
        width, height = H263_SIZES[0]
        for size in H263_SIZES:
            if size[0] * size[1] <= max(carried, H263_SIZES[0][0] * H263_SIZES[0][1]) and (
                size[0] <= long_side and size[1] <= short_side
            ):
                width, height = size
        fit = min(width / info.width, height / info.height)
        picture = (_even(info.width * fit), _even(info.height * fit))
    else:
        width, height = _even(info.width * scale), _even(info.height * scale)
        if min(width, height) < 96 and min(info.width, info.height) >= 96:
            # below this a clip shows nothing: the bitrate buys fewer frames instead
            lift = 96 / min(width, height)
            width, height = _even(width * lift), _even(height * lift)
            frame_rate = max(5, int(frame_rate / lift**2))
        picture = (width, height)
    # more bits than the picture needs would only grow the mail
    video_bps = min(video_bps, int(width * height * frame_rate * form.bits_per_pixel * 3), 1_500_000)
    return VideoPlan(
        container=container,
        width=width,
        height=height,
        picture_width=picture[0],
        picture_height=picture[1],
        frame_rate=frame_rate,
        video_bps=video_bps,
        audio_bps=audio_bps,
        seconds=seconds,
        cut=cut,
    )


def fit_video(
    data: bytes,
    *,
    container: VideoContainer,
    max_bytes: int,
    max_width: int,
    max_height: int,
    time_limit_s: float,
    info: VideoInfo | None = None,
) -> FittedVideo:
    """`data` (which `info` describes, when given) as a clip of `container`'s form of at most `max_bytes` octets,
    made in at most `time_limit_s`."""
    deadline = time.monotonic() + time_limit_s
    if info is None:
        info = probe_video(data)
    plan = plan_video(info, container=container, max_bytes=max_bytes, max_width=max_width, max_height=max_height)
    for _ in range(ATTEMPTS):
        out = _encode(data, info, plan, deadline, time_limit_s)
        if len(out) <= max_bytes:
            return FittedVideo(
                data=out,
                media_type=container.media_type,
                width=plan.width,
                height=plan.height,
                frame_rate=plan.frame_rate,
                video_bps=plan.video_bps,
                seconds=plan.seconds,
                cut=plan.cut,
            )
        # give back the excess, with a margin, from the video's bits
        excess_bps = (len(out) - max_bytes) * 8 * 1.2 / plan.seconds
        smaller = int(plan.video_bps - excess_bps)
        if smaller < _FORMS[container].min_video_bps:
            break
        plan = dataclasses.replace(plan, video_bps=smaller)
    raise MediaDropped(f"it cannot be made smaller than {max_bytes:,} bytes")


def _graph(stream: av.VideoStream, info: VideoInfo, plan: VideoPlan) -> av.filter.Graph:
    """Rotation, scaling (and H.263's padding), frame rate and pixel format, as FFmpeg's filters do them."""
    graph = av.filter.Graph()
    chain = [graph.add_buffer(template=stream)]
    if info.rotation == 90:
        chain.append(graph.add("transpose", "clock"))
    elif info.rotation == 270:
        chain.append(graph.add("transpose", "cclock"))
    elif info.rotation == 180:
        chain += [graph.add("hflip"), graph.add("vflip")]
    chain.append(graph.add("scale", f"{plan.picture_width}:{plan.picture_height}:flags=bicubic"))
    if (plan.picture_width, plan.picture_height) != (plan.width, plan.height):
        chain.append(graph.add("pad", f"{plan.width}:{plan.height}:(ow-iw)/2:(oh-ih)/2"))
    chain += [
        graph.add("setsar", "1"),
        graph.add("fps", str(plan.frame_rate)),
        graph.add("format", "yuv420p"),
        graph.add("buffersink"),
    ]
    for upstream, downstream in itertools.pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    return graph


def _pulled(graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    while True:
        try:
            frame = graph.vpull()
        except (av.BlockingIOError, av.EOFError):
            return
        yield frame


def _encode(data: bytes, info: VideoInfo, plan: VideoPlan, deadline: float, time_limit_s: float) -> bytes:
    form = _FORMS[plan.container]
    source = _open(data)
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, mode="w", format=plan.container.value)
    closed = False
    try:
        stream = _checked_stream(source)
        # the rate controller's buffer is one second: the size passes its target by one second's bits at most
        options = {"g": str(plan.frame_rate * 5), "maxrate": str(plan.video_bps), "bufsize": str(plan.video_bps)}
        if plan.container is VideoContainer.MP4:
            options |= {"profile": "baseline", "level": "3.0", "preset": "veryfast"}
        video = cast(av.VideoStream, out.add_stream(form.video_codec, rate=plan.frame_rate, options=options))
        video.width, video.height, video.pix_fmt = plan.width, plan.height, "yuv420p"
        video.bit_rate = plan.video_bps
        graph = _graph(stream, info, plan)
        sound = next(iter(source.streams.audio), None) if plan.audio_bps else None
        audio = resampler = None
        if sound is not None:
            audio = cast(av.AudioStream, out.add_stream(form.audio_codec, rate=form.audio_rate))
            audio.bit_rate = plan.audio_bps
            audio.layout = "mono"
            resampler = av.AudioResampler(format=audio.format.name, layout="mono", rate=form.audio_rate)
        # a stream of tiny frames (or timestamps that never advance) must not run without end
        max_frames = int((plan.seconds + 2) * 240) + 100
        decoded, audio_fed, video_open, audio_open = 0, 0, True, audio is not None
        picture_end = Fraction(plan.seconds).limit_denominator(1000)

        def encode_video(frames: Iterator[av.VideoFrame]) -> None:
            nonlocal video_open
            for frame in frames:
                if frame.time is not None and frame.time >= picture_end:
                    video_open = False
                    return
                for packet in video.encode(frame):
                    out.mux(packet)

        wanted = [s for s in (stream, sound) if s is not None]
        for packet in source.demux(*wanted):
            if time.monotonic() > deadline:
                raise MediaDropped(f"converting it took over {time_limit_s:g} s")
            if not (video_open or audio_open):
                break
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: keep what decodes
            for frame in frames:
                if isinstance(frame, av.VideoFrame) and video_open:
                    decoded += 1
                    if decoded > max_frames:
                        video_open = False
                        break
                    if frame.time is not None and frame.time > plan.seconds + 1:
                        video_open = False
                        break
                    graph.vpush(frame)
                    encode_video(_pulled(graph))
                elif isinstance(frame, av.AudioFrame) and audio_open and audio and resampler:
                    for chunk in resampler.resample(frame):
                        if (audio_fed + chunk.samples) / form.audio_rate > plan.seconds:
                            audio_open = False
                            break
                        audio_fed += chunk.samples
                        for out_packet in audio.encode(chunk):
                            out.mux(out_packet)
        graph.vpush(None)
        encode_video(_pulled(graph))
        for out_packet in video.encode(None):
            out.mux(out_packet)
        if audio is not None:
            for out_packet in audio.encode(None):
                out.mux(out_packet)
        if decoded == 0:
            raise MediaDropped("no picture in the video could be decoded")
        out.close()
        closed = True
        return out_buffer.getvalue()
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise MediaDropped(f"the video could not be converted ({type(exc).__name__})") from exc
    finally:
        source.close()
        if not closed:
            # a failed encoding: the output is thrown away, and so is whatever its muxer still says on closing
            with contextlib.suppress(av.FFmpegError, ValueError, OSError):
                out.close()


def still_frame(data: bytes, *, at_s: float = 1.0) -> Image.Image:
    """The picture the clip shows at `at_s` (or its last before), upright: for a route no clip fits."""
    source = _open(data)
    try:
        stream = _checked_stream(source)
        chosen: av.VideoFrame | None = None
        for packet in source.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    chosen = frame
            if chosen is not None and (chosen.time is None or chosen.time >= at_s):
                break
        if chosen is None:
            raise MediaDropped("no picture in the video could be decoded")
        image: Image.Image = chosen.to_image()  # type: ignore[no-untyped-call]
        turn = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
        rotation = _rotation(chosen)
        return image.transpose(turn[rotation]) if rotation in turn else image
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise MediaDropped(f"the video could not be decoded ({type(exc).__name__})") from exc
    finally:
        source.close()

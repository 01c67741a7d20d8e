"""Sound fitted to what phones play, with FFmpeg's libraries through PyAV.

Any audio FFmpeg decodes — `audio/basic` (µ-law), WAV, MP3, AAC, Ogg/Opus, AMR-WB, the sound of a 3GP or MP4 —
becomes AMR-NB at 12.2 kbit/s, 8 kHz mono, in the RFC 4867 storage format (`.amr`): the audio codec every MMS
content class takes (OMA-MMS-CONF), and 1,600 octets a second, so a clip is cut at the length its budget allows.
When the route plays AAC and the whole sound fits at 48 kbit/s, it becomes AAC-LC in an MPEG-4 audio file
(`.m4a`, ISO/IEC 14496-14) instead: music survives that, and AMR-NB is made for speech.
Decoding stops at the length the budget allows, so a sound's cost is bounded by its budget, not by what its
header claims; a file with more streams than any sound has is refused before decoding. Clips: `video`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av

from bridge.errors import MediaDropped

#: AMR-NB 12.2 kbit/s: 32 octets per 20 ms frame
AMR_BYTES_PER_SECOND = 1600
AMR_HEADER = 6  # "#!AMR\n"
MAX_STREAMS = 16
#: below this a clip is not worth sending
MIN_SECONDS = 1.0
#: what the encoder's delay and flush add after the last frame fed, at most
ENCODER_TAIL_S = 0.2
#: AAC-LC, mono: what music needs to sound like music at 24 kHz
AAC_BIT_RATE = 48_000
AAC_SAMPLE_RATE = 24_000
#: the m4a file's boxes around the sound: a fixed part and an index entry per 1024-sample frame
AAC_CONTAINER_BYTES = 1024
AAC_CONTAINER_BYTES_PER_SECOND = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedAudio:
    data: bytes
    media_type: str
    seconds: float
    #: the clip was longer than the budget allowed and was cut at `seconds`
    cut: bool

    @property
    def extension(self) -> str:
        return "m4a" if self.media_type == "audio/mp4" else "amr"


def _open(data: bytes, media_type: str) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        if media_type != "audio/basic":
            raise MediaDropped(f"not a sound FFmpeg can read ({type(exc).__name__})") from exc
    # RFC 2046 4.3: audio/basic without an .au header is 8-bit µ-law, 8 kHz, one channel
    try:
        return av.open(io.BytesIO(data), mode="r", format="mulaw", options={"sample_rate": "8000", "ch_layout": "mono"})
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaDropped(f"not a sound FFmpeg can read ({type(exc).__name__})") from exc


def _fits_as_aac(source: av.container.InputContainer, max_bytes: int) -> bool:
    if source.duration is None or source.duration <= 0:
        return False
    seconds = source.duration / av.time_base
    bytes_per_second = AAC_BIT_RATE / 8 + AAC_CONTAINER_BYTES_PER_SECOND
    return AAC_CONTAINER_BYTES + (seconds + 0.5) * bytes_per_second <= max_bytes


def fit_audio(data: bytes, *, max_bytes: int, media_type: str = "", aac: bool = False) -> FittedAudio:
    """`data` (any audio, or a container with a sound track) as AMR-NB of at most `max_bytes` octets, or as AAC-LC
    when `aac` (the route plays it) and the whole sound fits so."""
    max_seconds = (max_bytes - AMR_HEADER) / AMR_BYTES_PER_SECOND
    if max_seconds < MIN_SECONDS:
        raise MediaDropped(f"no room for even a second of sound in {max_bytes:,} bytes")
    source = _open(data, media_type)
    try:
        if len(source.streams) > MAX_STREAMS:
            raise MediaDropped(f"{len(source.streams)} streams (at most {MAX_STREAMS})")
        stream = next(iter(source.streams.audio), None)
        if stream is None:
            raise MediaDropped("no sound in it")
        if aac and _fits_as_aac(source, max_bytes):
            fitted = _encode_aac(source, stream)
            if len(fitted.data) <= max_bytes:
                return fitted
            source.close()
            source = _open(data, media_type)
            stream = source.streams.audio[0]
        return _encode_amr(source, stream, max_seconds)
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise MediaDropped(f"the sound could not be decoded ({type(exc).__name__})") from exc
    finally:
        source.close()


def _decoded(source: av.container.InputContainer, stream: av.AudioStream) -> Iterator[list[av.AudioFrame]]:
    """The frames of each packet of `stream` that decodes. A damaged packet (a clip cut short in transit) is
    skipped and what decodes is kept; nothing decoding at all is "no sound in it" to the caller."""
    for packet in source.demux(stream):
        try:
            yield packet.decode()
        except av.FFmpegError:
            continue


#: octets of speech data after the ToC octet, by frame type (RFC 4867 5.3, 3GPP TS 26.101 table 1a)
_AMR_FRAME_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0)


def _amr_frames(data: bytes) -> int:
    """How many 20 ms frames the storage-format `data` holds (silence frames are shorter than speech)."""
    at, frames = AMR_HEADER, 0
    while at < len(data):
        at += 1 + _AMR_FRAME_BYTES[(data[at] >> 3) & 0x0F]
        frames += 1
    return frames


def _encode_amr(source: av.container.InputContainer, stream: av.AudioStream, max_seconds: float) -> FittedAudio:
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, mode="w", format="amr")
    amr = out.add_stream("libopencore_amrnb", rate=8000)
    amr.bit_rate = 12_200
    amr.layout = "mono"
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    # the encoder's flush adds a few frames: keep room for them
    limit = max_seconds - ENCODER_TAIL_S
    fed, cut, good = 0.0, False, 0

    def encode(frames: list[av.AudioFrame]) -> bool:
        nonlocal fed, cut
        for frame in frames:
            if fed + frame.samples / 8000 > limit:
                cut = True
                return False
            fed += frame.samples / 8000
            for packet in amr.encode(frame):
                out.mux(packet)
        return True

    for decoded in _decoded(source, stream):
        good += 1
        if not all(encode(resampler.resample(frame)) for frame in decoded):
            break
    else:
        encode(resampler.resample(None))
    for packet in amr.encode(None):
        out.mux(packet)
    out.close()
    data = out_buffer.getvalue()
    if not good or len(data) <= AMR_HEADER:
        raise MediaDropped("no sound in it")
    seconds = _amr_frames(data) * 0.02
    if cut and seconds < MIN_SECONDS:
        raise MediaDropped("no room for even a second of sound")
    return FittedAudio(data=data, media_type="audio/amr", seconds=seconds, cut=cut)


def _encode_aac(source: av.container.InputContainer, stream: av.AudioStream) -> FittedAudio:
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, mode="w", format="ipod")
    encoder = out.add_stream("aac", rate=AAC_SAMPLE_RATE)
    encoder.bit_rate = AAC_BIT_RATE
    encoder.layout = "mono"
    resampler = av.AudioResampler(format=encoder.format.name, layout="mono", rate=AAC_SAMPLE_RATE)
    samples, good = 0, 0
    for decoded in _decoded(source, stream):
        good += 1
        for frame in decoded:
            for chunk in resampler.resample(frame):
                samples += chunk.samples
                for out_packet in encoder.encode(chunk):
                    out.mux(out_packet)
    for chunk in resampler.resample(None):
        samples += chunk.samples
        for out_packet in encoder.encode(chunk):
            out.mux(out_packet)
    for out_packet in encoder.encode(None):
        out.mux(out_packet)
    out.close()
    if not good or not samples:
        raise MediaDropped("no sound in it")
    seconds = samples / AAC_SAMPLE_RATE
    return FittedAudio(data=out_buffer.getvalue(), media_type="audio/mp4", seconds=seconds, cut=False)

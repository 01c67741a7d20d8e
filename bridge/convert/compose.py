"""One mail in, one MMS out, or a refusal that says why.

Owns the budget: the encoded m-retrieve-conf (headers, SMIL and every part) stays within the profile's
`max_message_bytes`, with `HEADER_RESERVE` octets kept for what the MMSC adds later (recipient, Message-ID,
Transaction-Id). Text comes first; sounds and clips a phone plays and that fit pass untouched, the others are
transcoded to their share of the budget (`media`, `video`), a clip no form of which fits becomes its still
picture; pictures share what is left in proportion to the area each can be shown at, and what they leave is spent
on those reduced most. What cannot be sent is dropped with a "Not sent" line; only a mail with nothing sendable
left is refused. The slides follow
OMA-MMS-CONF: one per picture with its caption; a text-only mail is text slides.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.codec.mms import INSERT_ADDRESS, Priority, RetrieveConf, SendReq, YesNo, encode_pdu
from bridge.codec.multipart import BodyPart
from bridge.codec.smil import SMIL_MEDIA_TYPE, Slide, encode_smil
from bridge.codec.tables import Charset
from bridge.codec.wsp import ContentType
from bridge.convert.extract import Attachment, Extracted, extract
from bridge.convert.images import FittedImage, ImageInfo, fit_image, probe
from bridge.convert.media import fit_audio
from bridge.convert.profile import DEFAULT_PROFILE, Profile
from bridge.convert.text import trim
from bridge.convert.video import VideoContainer, fit_video, probe_video, still_frame
from bridge.errors import ConversionRefused, ImageDropped, MediaDropped

#: octets kept free for the headers an MMSC sets when it sends the message on
HEADER_RESERVE = 256
#: a picture given less than this is not worth sending
MIN_IMAGE_BYTES = 1500
SLIDE_DURATION_MS = 5000
RELATED = "application/vnd.wap.multipart.related"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "audio/amr": "amr",
    "audio/amr-wb": "awb",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/wav": "wav",
    "audio/midi": "mid",
    "audio/sp-midi": "mid",
    "video/3gpp": "3gp",
    "video/3gpp2": "3g2",
    "video/mp4": "mp4",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertOptions:
    trim_signature: bool = True
    trim_quotes: bool = True
    #: a longer text is split into several slides
    max_slide_text_chars: int = 1000
    #: text beyond this is cut (a note says so): ten slides is more than anyone reads on a phone
    max_text_chars: int = 10_000
    #: the SMTP envelope asked for a delivery report (DSN NOTIFY=SUCCESS)
    notify_success: bool = False
    #: an HTML link's URL is shown after its text only when at most this long
    max_link_url_chars: int = 40
    #: converting one sound or clip may take this long, in seconds; then it is left out
    media_time_limit_s: float = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """What was made of one input: for `bridge convert` and the logs."""

    kind: str
    media_type: str
    size: int
    location: str
    source: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    subject: str | None
    sender: str | None
    date: datetime | None
    mail_message_id: str | None
    priority: Priority | None
    read_report: bool
    delivery_report: bool
    auto_submitted: bool
    content_type: ContentType
    parts: tuple[BodyPart, ...]
    slides: tuple[Slide, ...]
    items: tuple[Item, ...]
    dropped: tuple[str, ...]
    warnings: tuple[str, ...]
    #: what the sender is told was left out, cut or replaced
    changes: tuple[str, ...]
    profile: Profile
    #: the size of the m-retrieve-conf, with HEADER_RESERVE counted in
    budget_used: int


def _message_headers(conv: Conversion) -> dict[str, Any]:
    """The headers a converted message carries in whichever PDU it travels."""
    return {
        "subject": conv.subject,
        "priority": conv.priority,
        "read_report": YesNo.YES if conv.read_report else None,
        "delivery_report": YesNo.YES if conv.delivery_report else None,
        "content_class": conv.profile.content_class,
        "content_type": conv.content_type,
        "parts": conv.parts,
    }


def retrieve_conf(
    conv: Conversion, *, to: tuple[str, ...], message_id: str, date: datetime | None = None
) -> RetrieveConf:
    return RetrieveConf(
        date=date or conv.date or datetime.now(UTC).replace(microsecond=0),
        message_id=message_id,
        sender=conv.sender,
        to=to,
        **_message_headers(conv),
    )


def send_req(conv: Conversion, *, transaction_id: str, to: tuple[str, ...]) -> SendReq:
    """The stored form of a converted mail. From carries the mail's sender (the builtin MMSC shows it to the
    phone); without one, the MMSC is asked to insert its own (Insert-address-token)."""
    return SendReq(
        transaction_id=transaction_id,
        to=to,
        sender=conv.sender or INSERT_ADDRESS,
        **_message_headers(conv),
    )


def _text_chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at paragraph, then line, then word boundaries."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = rest.rfind(sep, limit // 2, limit)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        chunks.append(rest)
    return chunks


def _text_part(text: str, location: str) -> BodyPart:
    return BodyPart(
        content_type=ContentType(media_type="text/plain", charset=Charset.UTF_8),
        data=text.encode("utf-8"),
        content_id=f"<{location}>",
        content_location=location,
    )


@dataclass
class _Picture:
    att: Attachment
    info: ImageInfo
    fitted: FittedImage | None = None


_SlidePlan = tuple[_Picture | Attachment | None, str]


class _Builder:
    def __init__(self, ex: Extracted, profile: Profile, options: ConvertOptions) -> None:
        self.ex = ex
        self.profile = profile
        self.options = options
        self.dropped = list(ex.dropped)
        self.warnings = list(ex.warnings)
        #: what was cut or replaced, besides what was dropped
        self.changes: list[str] = [w for w in ex.warnings if w == "the text was shortened"]
        #: sounds and clips sent shortened, for the phone's note
        self.cuts: list[str] = []
        #: a picture, sound or clip could not be sent
        self.media_left_out = False
        self._measured: dict[tuple[tuple[int, int, str], ...], Any] = {}

    def build(self) -> Conversion:
        ex = self.ex
        text = "\n\n".join(t for t in ex.texts if t.strip())
        # Text beyond the budget can never be sent, and slides cost octets of their own (SMIL, part headers):
        # cutting it to 60 % of the budget (and to max_text_chars) first keeps a 10 MB text mail cheap to fit.
        limit = min(self.profile.max_message_bytes * 6 // 10, self.options.max_text_chars * 4)
        if len(text) > self.options.max_text_chars or len(text.encode()) > limit:
            cut = text[: self.options.max_text_chars].encode()[:limit].decode("utf-8", "ignore")
            text = cut.rstrip() + " […]"
            if "the text was shortened" not in self.warnings:
                self._change("the text was shortened")
        text = trim(text, signature=self.options.trim_signature, quotes=self.options.trim_quotes)
        media, stills = self._media(len(text.encode()))
        pictures = self._pictures(stills)
        pictures, media = self._counted(pictures, media)
        if not text and not pictures and not media:
            if not ex.subject:
                # 5.6.1 (media not supported) when what was left out was a picture, sound or clip
                raise ConversionRefused(self._nothing_reason(), "5.6.1" if self.media_left_out else "5.6.0")
            text = ex.subject
        # the slide plan, with pictures' sizes still open
        slides: list[_SlidePlan] = []
        body_chunks = _text_chunks(text, self.options.max_slide_text_chars) if text else []
        visuals: list[_Picture | Attachment] = [
            *pictures,
            *(m for m in media if m.media_type.startswith("video/")),
        ]
        if visuals:
            first = visuals[0]
            first_has_caption = isinstance(first, _Picture) and first.att.has_caption
            if len(body_chunks) == 1 and not first_has_caption:
                slides.append((first, body_chunks.pop()))
                visuals = visuals[1:]
            slides.extend((None, chunk) for chunk in body_chunks)
            slides.extend((v, v.att.caption if isinstance(v, _Picture) else "") for v in visuals)
        else:
            slides.extend((None, chunk) for chunk in body_chunks)
        audio = [m for m in media if not m.media_type.startswith("video/")]
        if not slides:  # a sound alone: it plays on a slide of its own, under the subject
            slides.append((None, ex.subject or ""))
        return self._fit(slides, pictures, audio)

    def _counted(self, pictures: list[_Picture], media: list[Attachment]) -> tuple[list[_Picture], list[Attachment]]:
        """The pictures, then the sounds and clips, up to the route's count of media parts; the rest left out."""
        limit = self.profile.max_media_parts
        if not limit or len(pictures) + len(media) <= limit:
            return pictures, media
        kept_media = media[: max(0, limit - len(pictures))]
        for pic in pictures[limit:]:
            self._left_out(f"{pic.att.name or 'a picture'} (the route takes at most {limit} media parts)")
        for att in media[len(kept_media) :]:
            self._left_out(f"{att.name or att.media_type} (the route takes at most {limit} media parts)")
        return pictures[:limit], kept_media

    def _nothing_reason(self) -> str:
        if self.dropped:
            return "nothing in this mail can be sent as an MMS: " + ", ".join(self.dropped[:5])
        return "the mail is empty: no text, picture, sound or video to send"

    def _pictures(self, stills: list[Attachment]) -> list[_Picture]:
        out = []
        for att in (*self.ex.images, *stills):
            label = att.name or att.media_type
            if not any(t.startswith("image/") for t in self.profile.allowed_types):
                self._left_out(f"{label} (this route takes no pictures)")
                continue
            try:
                out.append(_Picture(att=att, info=probe(att.data, max_pixels=self.profile.max_image_pixels)))
            except ImageDropped as exc:
                self._left_out(f"{label} ({exc})")
        return out

    def _media(self, text_bytes: int) -> tuple[list[Attachment], list[Attachment]]:
        """The sounds and clips to send, each fitted to its share of the budget, and the still pictures of clips
        no playable form of which fits (to be fitted with the other pictures)."""
        clips: list[Attachment] = []
        stills: list[Attachment] = []
        room = self.profile.max_message_bytes - HEADER_RESERVE
        # sounds and clips share half the budget with pictures beside them, all of it but the text's otherwise
        shared = room // 2 if self.ex.images else max(room // 2, room - 4096 - text_bytes)
        share = shared // max(1, len(self.ex.media))
        if self.profile.max_clip_bytes:
            share = min(share, self.profile.max_clip_bytes)
        for att in self.ex.media:
            label = att.name or att.media_type
            if att.media_type.startswith("audio/"):
                if self.profile.allows(att.media_type) and len(att.data) <= share:
                    clips.append(att)
                else:
                    fitted = self._fit_sound(att, label, share)
                    if fitted is not None:
                        clips.append(fitted)
                continue
            self._fit_clip(att, label, share, clips, stills)
        return clips, stills

    def _fit_sound(self, att: Attachment, label: str, budget: int) -> Attachment | None:
        """A sound the route cannot take as it is, as AAC-LC when it fits whole and the route plays it, else
        AMR-NB cut to `budget`; None, and a note, when it cannot be made so."""
        if "audio/amr" not in self.profile.allowed_types:
            self._left_out(f"{label} (this route takes no sound)")
            return None
        try:
            fitted = fit_audio(
                att.data, max_bytes=budget, media_type=att.media_type, aac=self.profile.allows("audio/mp4")
            )
        except MediaDropped as exc:
            self._left_out(f"{label} ({exc})")
            return None
        if fitted.cut:
            self._cut(label, fitted.seconds)
        stem = (att.name or "sound").rsplit(".", 1)[0]
        return Attachment(data=fitted.data, media_type=fitted.media_type, name=f"{stem}.{fitted.extension}")

    def _fit_clip(
        self, att: Attachment, label: str, budget: int, clips: list[Attachment], stills: list[Attachment]
    ) -> None:
        """A clip as it is when a phone plays it and it fits; else in the first form the route takes that fits
        (MP4, then 3GP); else its still picture; else a note."""
        profile = self.profile
        try:
            info = probe_video(att.data)
        except MediaDropped as exc:
            self._left_out(f"{label} ({exc})")
            return
        if (
            profile.allows(att.media_type)
            and len(att.data) <= budget
            and info.playable_as(att.media_type, max_width=profile.max_image_width, max_height=profile.max_image_height)
        ):
            clips.append(att)
            return
        if info.video_codec is None:
            sound = self._fit_sound(att, label, budget)
            if sound is not None:
                clips.append(sound)
            return
        stem = (att.name or "video").rsplit(".", 1)[0]
        reason = "this route takes no video"
        for container in (VideoContainer.MP4, VideoContainer.THREE_GP):
            if not profile.allows(container.media_type):
                continue
            try:
                fitted = fit_video(
                    att.data,
                    info=info,
                    container=container,
                    max_bytes=budget,
                    max_width=profile.max_image_width,
                    max_height=profile.max_image_height,
                    time_limit_s=self.options.media_time_limit_s,
                )
            except MediaDropped as exc:
                reason = str(exc)
                continue
            if fitted.cut:
                self._cut(label, fitted.seconds)
            clips.append(
                Attachment(data=fitted.data, media_type=fitted.media_type, name=f"{stem}.{container.extension}")
            )
            return
        if any(t.startswith("image/") for t in profile.allowed_types):
            try:
                picture = still_frame(att.data)
            except MediaDropped:
                pass
            else:
                out = io.BytesIO()
                picture.convert("RGB").save(out, "JPEG", quality=90)
                stills.append(Attachment(data=out.getvalue(), media_type="image/jpeg", name=f"{stem}.jpg"))
                self._change(f"{label} sent as a still picture ({reason})")
                return
        self._left_out(f"{label} ({reason})")

    def _left_out(self, note: str) -> None:
        self.dropped.append(note)
        self.media_left_out = True

    def _cut(self, label: str, seconds: float) -> None:
        """A sound or clip sent shortened: the sender is told, and the phone's last slide says so."""
        self._change(f"{label} cut to {seconds:.0f} s (the rest did not fit)")
        self.cuts.append(f"{label} (the first {seconds:.0f} s)")

    def _change(self, note: str) -> None:
        """A part was cut or replaced: the sender is told (the DSN, or the change notice)."""
        self.warnings.append(note)
        self.changes.append(note)

    def _assemble(
        self, slides: list[_SlidePlan], audio: list[Attachment]
    ) -> tuple[tuple[BodyPart, ...], tuple[Slide, ...], list[Item]]:
        parts: list[BodyPart] = []
        smil_slides: list[Slide] = []
        items: list[Item] = []
        counters: dict[str, int] = {}

        def name(kind: str, media_type: str) -> str:
            counters[kind] = counters.get(kind, 0) + 1
            return f"{kind}{counters[kind]}.{_EXTENSIONS.get(media_type, 'txt' if kind == 'text' else 'bin')}"

        for i, (visual, text) in enumerate(slides):
            image = video = text_loc = audio_loc = None
            if isinstance(visual, _Picture):
                fitted = visual.fitted
                data = fitted.data if fitted is not None else b"\0"
                media_type = fitted.media_type if fitted is not None else "image/jpeg"
                image = name("image", media_type)
                parts.append(
                    BodyPart(
                        content_type=ContentType(media_type=media_type),
                        data=data,
                        content_id=f"<{image}>",
                        content_location=image,
                    )
                )
                items.append(
                    Item(
                        kind="image",
                        media_type=media_type,
                        size=len(data),
                        location=image,
                        source=visual.att.name,
                        width=fitted.width if fitted else None,
                        height=fitted.height if fitted else None,
                    )
                )
            elif isinstance(visual, Attachment):
                video = name("video", visual.media_type)
                parts.append(self._media_part(visual, video))
                items.append(self._media_item("video", visual, video))
            if text:
                text_loc = name("text", "text/plain")
                parts.append(_text_part(text, text_loc))
                items.append(Item(kind="text", media_type="text/plain", size=len(text.encode()), location=text_loc))
            if i == 0 and audio:
                for clip in audio:
                    audio_loc = name("audio", clip.media_type)
                    parts.append(self._media_part(clip, audio_loc))
                    items.append(self._media_item("audio", clip, audio_loc))
            smil_slides.append(
                Slide(duration_ms=SLIDE_DURATION_MS, image=image, video=video, text=text_loc, audio=audio_loc)
            )
        smil = encode_smil(smil_slides, width=self.profile.max_image_width, height=self.profile.max_image_height)
        smil_part = BodyPart(
            content_type=ContentType(media_type=SMIL_MEDIA_TYPE, charset=Charset.UTF_8),
            data=smil,
            content_id="<smil>",
            content_location="smil.xml",
        )
        items.insert(0, Item(kind="smil", media_type=SMIL_MEDIA_TYPE, size=len(smil), location="smil.xml"))
        return (smil_part, *parts), tuple(smil_slides), items

    @staticmethod
    def _media_part(att: Attachment, location: str) -> BodyPart:
        return BodyPart(
            content_type=ContentType(media_type=att.media_type),
            data=att.data,
            content_id=f"<{location}>",
            content_location=location,
        )

    @staticmethod
    def _media_item(kind: str, att: Attachment, location: str) -> Item:
        return Item(kind=kind, media_type=att.media_type, size=len(att.data), location=location, source=att.name)

    def _size(self, parts: tuple[BodyPart, ...]) -> int:
        """The octets of the m-retrieve-conf with these parts, HEADER_RESERVE included. When a generous bound
        is already within the budget (most mails), the bound is the answer and nothing is encoded."""
        bound = self._size_bound(parts)
        if bound <= self.profile.max_message_bytes:
            return bound
        pdu = RetrieveConf(
            date=datetime(2000, 1, 1, tzinfo=UTC),
            sender=self.ex.sender,
            subject=self.ex.subject or None,
            priority=self.ex.priority,
            read_report=YesNo.YES,
            delivery_report=YesNo.YES,
            content_class=self.profile.content_class,
            content_type=self._content_type(),
            parts=parts,
        )
        return len(encode_pdu(pdu)) + HEADER_RESERVE

    def _size_bound(self, parts: tuple[BodyPart, ...]) -> int:
        """At least the encoded size: every header and part header counted at more than it can take."""
        text = len((self.ex.sender or "").encode()) + len((self.ex.subject or "").encode())
        headers = 64 + 2 * text  # fixed headers and a value-length/charset/quote for each text
        body = 16
        for part in parts:
            ct = part.content_type
            meta = len(ct.media_type) + sum(len(k) + len(v.encode()) + 4 for k, v in ct.params)
            meta += len((part.content_id or "").encode()) + len((part.content_location or "").encode())
            body += len(part.data) + meta + 32  # HeadersLen, DataLen, codes, NULs, charset
        return headers + body + 128 + HEADER_RESERVE  # 128: the multipart Content-Type with start and type

    def _content_type(self) -> ContentType:
        return ContentType(media_type=RELATED, params=(("start", "<smil>"), ("type", SMIL_MEDIA_TYPE)))

    def _fit(
        self,
        slides: list[_SlidePlan],
        pictures: list[_Picture],
        audio: list[Attachment],
    ) -> Conversion:
        limit = self.profile.max_message_bytes
        while True:
            # every picture is a 1-octet placeholder here; its DataLen uintvar may grow by up to 2 octets
            overhead = self._measure(slides, audio)[3] - len(pictures) + 2 * len(pictures)
            available = limit - overhead
            if overhead > limit:
                slides = self._shorten_text(slides, overhead - limit)
                continue
            if pictures and available < MIN_IMAGE_BYTES * len(pictures):
                dropped = pictures.pop()
                self.dropped.append(f"{dropped.att.name or 'a picture'} (no room left in {limit:,} bytes)")
                slides = [(v, t) for v, t in slides if v is not dropped] or [(None, self.ex.subject or "")]
                continue
            break
        self._share(pictures, available)
        for _ in range(8):
            final = self._with_note(self._without_unfitted(slides))
            parts, smil_slides, items, used = self._measure(final, audio)
            if used <= limit:
                break
            excess = used - limit
            fitted = [p for p in pictures if p.fitted is not None]
            if fitted:
                # the estimate was short (uintvar widths, the note): the largest picture gives up the excess
                biggest = max(fitted, key=lambda p: len(p.fitted.data) if p.fitted else 0)
                assert biggest.fitted is not None
                self._fit_one(biggest, len(biggest.fitted.data) - excess - 64)
            else:
                slides = self._shorten_text(slides, excess)
        else:  # pragma: no cover - the loop converges; this keeps the promise if it ever does not
            raise ConversionRefused(f"the message could not be fitted into {limit:,} bytes", "5.3.4")
        ex = self.ex
        return Conversion(
            subject=ex.subject or None,
            sender=ex.sender,
            date=ex.date,
            mail_message_id=ex.message_id,
            priority=ex.priority,
            read_report=ex.read_report,
            delivery_report=ex.delivery_report or self.options.notify_success,
            auto_submitted=ex.auto_submitted,
            content_type=self._content_type(),
            parts=parts,
            slides=smil_slides,
            items=tuple(items),
            dropped=tuple(self.dropped),
            warnings=tuple(self.warnings),
            changes=(*self.dropped, *self.changes),
            profile=self.profile,
            budget_used=used,
        )

    def _measure(
        self, slides: list[_SlidePlan], audio: list[Attachment]
    ) -> tuple[tuple[BodyPart, ...], tuple[Slide, ...], list[Item], int]:
        """The parts of `slides` and the size of their PDU, remembered: a text-only mail is measured once."""
        key = tuple((id(v), id(v.fitted.data) if isinstance(v, _Picture) and v.fitted else -1, t) for v, t in slides)
        found = self._measured.get(key)
        if found is None:
            parts, smil_slides, items = self._assemble(slides, audio)
            found = self._measured[key] = (parts, smil_slides, items, self._size(parts))
        return found

    @staticmethod
    def _without_unfitted(slides: list[_SlidePlan]) -> list[_SlidePlan]:
        """Slides whose picture could not be fitted keep their text, or go."""
        out: list[_SlidePlan] = []
        for visual, text in slides:
            if isinstance(visual, _Picture) and visual.fitted is None:
                if text:
                    out.append((None, text))
            else:
                out.append((visual, text))
        return out

    def _with_note(self, slides: list[_SlidePlan]) -> list[_SlidePlan]:
        """The short lines that say what was left out or cut, at the end of the last slide."""
        lines = []
        if self.dropped:
            lines.append("Not sent: " + ", ".join(self.dropped[:8]) + ("…" if len(self.dropped) > 8 else ""))
        if self.cuts:
            lines.append("Cut to fit: " + ", ".join(self.cuts[:4]) + ("…" if len(self.cuts) > 4 else ""))
        if not lines:
            return slides
        note = "\n".join(lines)
        if not slides:
            return [(None, note)]
        visual, text = slides[-1]
        return [*slides[:-1], (visual, f"{text}\n\n{note}" if text else note)]

    def _shorten_text(self, slides: list[_SlidePlan], excess: int) -> list[_SlidePlan]:
        """Cut the longest text by `excess` octets (and a little more), noting it."""
        i = max(range(len(slides)), key=lambda k: len(slides[k][1].encode()))
        visual, text = slides[i]
        raw = text.encode()
        if len(raw) <= excess + 32:
            if visual is None and len(slides) > 1:
                return slides[:i] + slides[i + 1 :]
            raise ConversionRefused(
                f"even without its pictures the text does not fit {self.profile.max_message_bytes:,} bytes",
                "5.3.4",
            )
        cut = raw[: len(raw) - excess - 32].decode("utf-8", "ignore").rstrip() + " […]"
        if "the text was shortened" not in self.warnings:
            self._change("the text was shortened")
        return [*slides[:i], (visual, cut), *slides[i + 1 :]]

    def _shown_area(self, pic: _Picture) -> int:
        """The pixels the picture can have on this route: its size once scaled to the profile's largest."""
        w, h = pic.info.width, pic.info.height
        scale = min(1.0, self.profile.max_image_width / w, self.profile.max_image_height / h)
        return max(1, round(w * scale)) * max(1, round(h * scale))

    def _share(self, pictures: list[_Picture], available: int) -> None:
        """Pictures share `available` octets by the area each can be shown at (a 12 MP photo and a 640x480
        snapshot both become 640x480 at most, so they share alike); what a small one leaves over goes to the larger
        ones. Then what is still left goes, in a second pass, to the pictures that were reduced the most."""
        remaining = available
        todo = sorted(pictures, key=self._shown_area)
        shares: dict[int, int] = {}
        while todo:
            total_area = sum(self._shown_area(p) for p in todo)
            pic = todo.pop(0)
            share = remaining * self._shown_area(pic) // total_area if total_area else remaining // (len(todo) + 1)
            # a small picture still needs a few kilobytes to be worth seeing; the larger ones can spare them
            share = min(max(share, MIN_IMAGE_BYTES * 2), remaining - MIN_IMAGE_BYTES * len(todo))
            if not self._fit_one(pic, share):
                pictures.remove(pic)
                continue
            assert pic.fitted is not None
            shares[id(pic)] = share
            remaining -= len(pic.fitted.data)
        self._spend_what_is_left(pictures, remaining, shares)

    def _spend_what_is_left(self, pictures: list[_Picture], remaining: int, shares: dict[int, int]) -> None:
        """Second pass: a picture that filled its share (it was held back by it, not by the route's size or the
        best quality) gets its share again plus what the others left, most reduced first."""

        def kept(pic: _Picture) -> float:
            assert pic.fitted is not None
            return pic.fitted.width * pic.fitted.height / self._shown_area(pic)

        held_back = [p for p in pictures if p.fitted is not None and len(p.fitted.data) > shares.get(id(p), 0) * 0.85]
        for pic in sorted(held_back, key=kept):
            if remaining < MIN_IMAGE_BYTES * 2:
                break
            assert pic.fitted is not None
            before = pic.fitted
            if not self._fit_one(pic, len(before.data) + remaining):
                pic.fitted = before  # it fitted before: keep that
                self.dropped.pop()
                continue
            assert pic.fitted is not None
            remaining -= len(pic.fitted.data) - len(before.data)

    def _fit_one(self, pic: _Picture, budget: int) -> bool:
        profile = self.profile
        try:
            pic.fitted = fit_image(
                pic.att.data,
                max_width=profile.max_image_width,
                max_height=profile.max_image_height,
                max_bytes=max(budget, 1),
                allowed_types=profile.allowed_types,
                max_pixels=profile.max_image_pixels,
            )
            return True
        except ImageDropped as exc:
            pic.fitted = None
            self.dropped.append(f"{pic.att.name or 'a picture'} ({exc})")
            return False


def convert_mail(
    raw: bytes, *, profile: Profile = DEFAULT_PROFILE, options: ConvertOptions = ConvertOptions()
) -> Conversion:
    """The MMS made of `raw` (one RFC 5322 message) for a route with `profile`, or `ConversionRefused`."""
    text_limit = min(profile.max_message_bytes, options.max_text_chars * 4)  # 4 octets: the widest UTF-8 character
    extracted = extract(raw, text_limit=text_limit, max_url_chars=options.max_link_url_chars)
    return _Builder(extracted, profile, options).build()


__all__ = [
    "Conversion",
    "ConversionRefused",
    "ConvertOptions",
    "Item",
    "convert_mail",
    "retrieve_conf",
    "send_req",
]


def retrieve_conf_from(
    request: SendReq, *, transaction_id: str, message_id: str, to: tuple[str, ...], date: datetime
) -> RetrieveConf:
    """The m-retrieve-conf a phone fetches for a stored m-send-req (OMA-MMS-ENC 6.3): the same message headers
    and body, addressed to that one phone; send-only headers (Expiry, Delivery-Time, visibility) left out."""
    return RetrieveConf(
        transaction_id=transaction_id,
        message_id=message_id,
        date=date,
        sender=request.sender if isinstance(request.sender, str) else None,
        to=to,
        subject=request.subject,
        message_class=request.message_class,
        priority=request.priority,
        delivery_report=request.delivery_report,
        read_report=request.read_report,
        content_class=request.content_class,
        drm_content=request.drm_content,
        content_type=request.content_type,
        parts=request.parts,
    )

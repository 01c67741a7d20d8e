"""What a mail says, walked out of its MIME tree: the text to show, the pictures (with their captions), the
audio and video clips, the headers an MMS carries, and what had to be left out.

Follows RFC 2046 (alternative: the richest readable branch; related: the root and the parts it refers to by
`cid:`; mixed: everything in order), RFC 1847 (the signed content of multipart/signed, S/MIME and PGP/MIME),
RFC 4356 (which mail headers become MMS headers) and RFC 8098 / RFC 3798 (Disposition-Notification-To).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses, parsedate_to_datetime

from bridge.codec.mms import Priority
from bridge.convert.mime import MimePart, find_uu_blocks, parse_mail
from bridge.convert.text import MAX_URL_CHARS, decode_bytes, decode_header_value, html_to_text, tidy

#: media types that mean the same thing to a handset, under the name handsets know
MEDIA_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heif": "image/heic",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/aacp": "audio/aac",
    "audio/x-aac": "audio/aac",
    "audio/3gpp": "audio/amr",
    "audio/x-amr": "audio/amr",
    "audio/mid": "audio/midi",
    "audio/x-midi": "audio/midi",
    "video/3gp": "video/3gpp",
    "video/mpeg4": "video/mp4",
    "video/x-m4v": "video/mp4",
}

#: leading octets -> media type, for attachments sent as application/octet-stream or mislabelled
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"#!AMR-WB\n", "audio/amr-wb"),
    (0, b"#!AMR\n", "audio/amr"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"MThd", "audio/midi"),
]
_FTYP = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heic",
    b"msf1": "image/heic",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp2",
    b"M4A ": "audio/mp4",
    b"isom": "video/mp4",
    b"mp41": "video/mp4",
    b"mp42": "video/mp4",
    b"avc1": "video/mp4",
    b"qt  ": "video/quicktime",
}


def sniff(data: bytes) -> str | None:
    """The media type the content's first octets show, or None."""
    for offset, magic, media in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return media
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if data[8:12] == b"WEBP" else "audio/wav"
    if data[4:8] == b"ftyp":
        return _FTYP.get(data[8:12])
    if len(data) > 2 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS
    if len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    return None


@dataclass
class Attachment:
    data: bytes
    media_type: str
    name: str | None
    caption: str = ""
    has_caption: bool = False


@dataclass
class Extracted:
    subject: str = ""
    sender: str | None = None
    date: datetime | None = None
    message_id: str | None = None
    read_report: bool = False
    delivery_report: bool = False
    priority: Priority | None = None
    auto_submitted: bool = False
    texts: list[str] = field(default_factory=list)
    images: list[Attachment] = field(default_factory=list)
    media: list[Attachment] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_SKIPPED_TYPES = frozenset(
    {
        "message/delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
        "text/rfc822-headers",
        "application/pgp-signature",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-keys",
    }
)


def extract(raw: bytes, *, text_limit: int | None = None, max_url_chars: int = MAX_URL_CHARS) -> Extracted:
    """What `raw` says. Text beyond `text_limit` octets can never be sent, so it is not decoded at all; an HTML
    link's URL is kept after its text only when at most `max_url_chars` long."""
    tree = parse_mail(raw)
    ex = Extracted()
    _headers(tree, ex)
    _Walker(ex, text_limit, max_url_chars).walk(tree, depth=0)
    return ex


def _body_charset(part: MimePart) -> str | None:
    """The charset of the first text part: what a sender's raw 8-bit headers are most likely written in."""
    if part.content_type.startswith("text/"):
        return part.charset
    for child in part.children:
        found = _body_charset(child)
        if found:
            return found
    return None


_ADDR = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+"
_PLAIN_FROM = re.compile(rf"[A-Za-z0-9 .'_-]*<({_ADDR})>\s*\Z|\s*({_ADDR})\s*\Z")


def _headers(tree: MimePart, ex: Extracted) -> None:
    h = tree.headers
    ex.subject = decode_header_value(h.get("Subject"), ex.warnings, "Subject", _body_charset(tree))
    from_value = decode_header_value(h.get("From"), ex.warnings, "From")
    plain = _PLAIN_FROM.match(from_value)
    if plain is not None:  # "Name <a@b>" or "a@b": the address without the full RFC 5322 parser
        ex.sender = plain.group(1) or plain.group(2)
    else:
        ex.sender = next((addr for _, addr in getaddresses([from_value]) if addr), None)
    try:
        date = h.get("Date")
        ex.date = parsedate_to_datetime(str(date)) if date else None
        if ex.date is not None and ex.date.tzinfo is None:
            ex.date = None
        if ex.date is not None and not 1990 <= ex.date.year < 2100:
            # MMS dates are 32-bit seconds in practice; a year like 3609 is a broken clock, not a date
            ex.warnings.append(f"Date: the year {ex.date.year} is not plausible, the arrival time is used")
            ex.date = None
    except (TypeError, ValueError, IndexError, OverflowError):
        ex.warnings.append("Date: unreadable, the arrival time is used")
    mid = h.get("Message-ID")
    ex.message_id = str(mid).strip() if mid else None
    ex.read_report = bool(h.get("Disposition-Notification-To"))
    ex.delivery_report = bool(h.get("Return-Receipt-To"))
    auto = str(h.get("Auto-Submitted", "no")).strip().lower()
    ex.auto_submitted = auto not in ("", "no")
    ex.priority = _priority(h.get("Importance"), h.get("X-Priority"), h.get("Priority"))


def _priority(importance: object, x_priority: object, priority: object) -> Priority | None:
    imp = str(importance or "").strip().lower()
    if imp in ("high", "low", "normal"):
        return {"high": Priority.HIGH, "low": Priority.LOW, "normal": Priority.NORMAL}[imp]
    xp = str(x_priority or "").strip()[:1]
    if xp in ("1", "2"):
        return Priority.HIGH
    if xp in ("4", "5"):
        return Priority.LOW
    if xp == "3":
        return Priority.NORMAL
    pr = str(priority or "").strip().lower()
    if pr in ("urgent", "non-urgent"):
        return Priority.HIGH if pr == "urgent" else Priority.LOW
    return None


def _file_name(part: MimePart) -> str | None:
    """The attachment's file name with RFC 2231 and (non-standard but common) RFC 2047 encoding undone."""
    name = part.filename
    if name is None:
        return None
    return decode_header_value(name, [], "filename") or None


def _describe(part: MimePart, media_type: str | None = None) -> str:
    name = _file_name(part)
    kind = media_type or part.content_type
    return f"{name} ({kind})" if name else kind


class _Walker:
    def __init__(self, ex: Extracted, text_limit: int | None = None, max_url_chars: int = MAX_URL_CHARS) -> None:
        self.max_url_chars = max_url_chars
        self.ex = ex
        self.text_left = text_limit if text_limit is not None else 1 << 62
        self.cids: dict[str, MimePart] = {}
        self.used: set[int] = set()
        self._last_was_image = False

    def walk(self, part: MimePart, depth: int) -> None:
        if id(part) in self.used or depth > 30:
            return
        self.used.add(id(part))
        ctype = part.content_type
        main = ctype.split("/", 1)[0]
        if ctype in _SKIPPED_TYPES:
            return
        if main == "multipart":
            self._multipart(part, ctype, depth)
        elif ctype == "message/rfc822":
            self._forwarded(part, depth)
        elif ctype == "message/partial":
            self.ex.dropped.append("a fragment of a split message (message/partial)")
        elif ctype == "text/plain" or ctype == "text/enriched":
            self._plain(part)
        elif ctype == "text/html":
            self._html(part)
        elif main in ("image", "audio", "video"):
            self._media(part, MEDIA_ALIASES.get(ctype, ctype))
        elif ctype in ("application/ms-tnef", "application/vnd.ms-tnef") or (
            (_file_name(part) or "").lower() == "winmail.dat"
        ):
            self._tnef(part)
        else:
            data = part.decoded()
            sniffed = sniff(data)
            if sniffed is not None and sniffed.split("/")[0] in ("image", "audio", "video"):
                self._media(part, sniffed, data)
            elif data.strip() or _file_name(part):
                self.ex.dropped.append(_describe(part))

    def _multipart(self, part: MimePart, ctype: str, depth: int) -> None:
        children = part.children
        if not children:
            if part.body.strip():
                self.ex.warnings.append(f"{ctype}: no parts found (boundary missing)")
            return
        if ctype == "multipart/alternative":
            self.walk(self._best_alternative(children), depth + 1)
        elif ctype == "multipart/related":
            self._related(part, children, depth)
        elif ctype in ("multipart/signed", "multipart/report"):
            self.walk(children[0], depth + 1)
        else:
            for child in children:
                self._mixed_child(child, depth)

    def _mixed_child(self, child: MimePart, depth: int) -> None:
        """A part of a mixed body; inline text right after an inline picture is that picture's caption (the
        way Apple Mail and phones lay out text around photos)."""
        images_before = len(self.ex.images)
        last = self.ex.images[-1] if self.ex.images else None
        texts_before = len(self.ex.texts)
        self.walk(child, depth + 1)
        is_caption = (
            last is not None
            and self._last_was_image
            and not last.has_caption
            and child.content_type == "text/plain"
            and child.disposition != "attachment"
            and len(self.ex.images) == images_before
        )
        if is_caption and last is not None:
            new_texts = self.ex.texts[texts_before:]
            del self.ex.texts[texts_before:]
            last.caption = "\n\n".join(new_texts)
            last.has_caption = True
        self._last_was_image = len(self.ex.images) > images_before

    @staticmethod
    def _best_alternative(children: list[MimePart]) -> MimePart:
        # A branch that carries pictures (related/mixed) is the richest; else plain text; else HTML.
        for child in reversed(children):
            if child.content_type.startswith("multipart/") and child.children:
                return child
        for kind in ("text/plain", "text/html"):
            for child in children:
                if child.content_type == kind and child.decoded().strip():
                    return child
        return children[-1]

    def _related(self, part: MimePart, children: list[MimePart], depth: int) -> None:
        start = (part.param("start") or "").strip("<> ")
        for child in children:
            cid = str(child.headers.get("Content-ID", "")).strip().strip("<>").strip()
            if cid:
                self.cids[cid] = child
            location = str(child.headers.get("Content-Location", "")).strip()
            if location:
                self.cids[location] = child
        root = self.cids.get(start, children[0]) if start else children[0]
        self.walk(root, depth + 1)
        for child in children:  # parts the root did not show are attachments
            self.walk(child, depth + 1)

    def _forwarded(self, part: MimePart, depth: int) -> None:
        if not part.children:
            return
        inner = part.children[0]
        sender = decode_header_value(inner.headers.get("From"), self.ex.warnings, "From")
        subject = decode_header_value(inner.headers.get("Subject"), self.ex.warnings, "Subject")
        heading = " ".join(x for x in ("Forwarded:", subject, f"(from {sender})" if sender else "") if x)
        self.ex.texts.append(heading)
        self.walk(inner, depth + 1)

    def _text_of(self, part: MimePart) -> str:
        what = f"text part {_file_name(part) or part.content_type}"
        return decode_bytes(part.decoded(), part.charset, self.ex.warnings, what)

    def _plain(self, part: MimePart) -> None:
        data = part.decoded()
        blocks = find_uu_blocks(data) if b"begin " in data else []
        if blocks:
            kept = bytearray()
            last = 0
            for name, content, start, end in blocks:
                kept += data[last:start]
                last = end
                media = sniff(content)
                if media and media.split("/")[0] in ("image", "audio", "video"):
                    self._add_media(Attachment(data=content, media_type=media, name=name))
                else:
                    self.ex.dropped.append(name)
            kept += data[last:]
            data = bytes(kept)
        data = self._within_budget(data, part.charset)
        text = decode_bytes(data, part.charset, self.ex.warnings, f"text part {_file_name(part) or 'body'}")
        text = tidy(text)
        if text:
            self.ex.texts.append(text)

    def _within_budget(self, data: bytes, charset: str | None) -> bytes:
        """At most what is left of the text budget, cut at a line end (ASCII-compatible charsets only)."""
        if len(data) <= self.text_left or (charset or "").lower().startswith(("utf-16", "utf-32")):
            self.text_left -= min(len(data), self.text_left)
            return data
        cut = data.rfind(b"\n", 0, self.text_left)
        data = data[: cut if cut > 0 else self.text_left]
        self.text_left = 0
        self.ex.warnings.append("the text was shortened")
        return data

    def _html(self, part: MimePart) -> None:
        """An HTML body: its text, and its inline pictures with their captions, decided by layout — a short
        heading right before a picture is its caption (the report layout: a title over each graph), and then the
        text after it is body text; a picture without one takes the text right after it (the layout of Apple
        Mail and most clients: a line under each photo)."""
        ht = html_to_text(self._text_of(part), max_url_chars=self.max_url_chars)
        segments = list(ht.segments)
        for i, heading in enumerate(ht.headings):
            if heading:  # the heading leaves the text it ended
                segments[i] = segments[i].rstrip().rpartition("\n")[0] if "\n" in segments[i].strip() else ""
        if segments[0].strip():
            self.ex.texts.append(segments[0])
        for i, src in enumerate(ht.images):
            after = segments[i + 1]
            heading = ht.headings[i]
            caption, rest = (heading, after) if heading else (after, "")
            target = None
            if src.lower().startswith("cid:"):
                target = self.cids.get(src[4:].strip("<> "))
            elif src in self.cids:
                target = self.cids[src]
            placed = False
            if target is not None and id(target) not in self.used:
                self.used.add(id(target))
                before = len(self.ex.images)
                self._media(target, MEDIA_ALIASES.get(target.content_type, target.content_type))
                if len(self.ex.images) > before:
                    self.ex.images[-1].caption = caption
                    self.ex.images[-1].has_caption = True
                    placed = True
            if not placed and caption.strip():
                self.ex.texts.append(caption)
            if rest.strip():
                self.ex.texts.append(rest)

    def _media(self, part: MimePart, media_type: str, data: bytes | None = None) -> None:
        content = part.decoded() if data is None else data
        if not content:
            self.ex.dropped.append(_describe(part, media_type))
            return
        sniffed = sniff(content)
        if sniffed is not None and sniffed.split("/")[0] == media_type.split("/")[0]:
            media_type = sniffed  # the content knows better than a generic or wrong label
        elif sniffed is not None and media_type.split("/")[0] not in ("image", "audio", "video"):
            media_type = sniffed
        self._add_media(Attachment(data=content, media_type=media_type, name=_file_name(part)))

    def _add_media(self, att: Attachment) -> None:
        if att.media_type.startswith("image/"):
            self.ex.images.append(att)
        else:
            self.ex.media.append(att)

    def _tnef(self, part: MimePart) -> None:
        from tnefparse import TNEF  # imported here: only winmail.dat needs it

        try:
            tnef = TNEF(part.decoded())
        except Exception as exc:  # tnefparse raises bare ValueError/KeyError/struct.error on damaged files
            self.ex.dropped.append(f"winmail.dat (unreadable: {exc.__class__.__name__})")
            return
        body = getattr(tnef, "body", None)
        if isinstance(body, bytes | str) and body:
            text = body.decode("cp1252", "replace") if isinstance(body, bytes) else body
            if text.strip():
                self.ex.texts.append(tidy(text))
        for att in tnef.attachments:
            name = att.long_filename() if hasattr(att, "long_filename") else att.name
            data = bytes(att.data)
            media = sniff(data)
            if media and media.split("/")[0] in ("image", "audio", "video"):
                self._add_media(Attachment(data=data, media_type=media, name=name))
            else:
                self.ex.dropped.append(str(name))

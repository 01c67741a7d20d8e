"""Text out of mail: charsets (with the aliases and mislabels real mail carries), RFC 2047 headers, readable
text from HTML, and the trimming of signatures and quoted replies.

Decoding never raises: undecodable bytes become U+FFFD and the caller gets a warning to record.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header
from html.parser import HTMLParser

#: labels seen in real mail -> the Python codec that reads what senders meant by them
CHARSET_ALIASES = {
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "gb2312": "gb18030",  # GB2312-labelled mail is routinely GBK/GB18030
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "iso-2022-jp": "iso2022_jp_ext",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-1": "cp1252",  # the web and mail treat Latin-1 labels as windows-1252
    "latin1": "cp1252",
    "us-ascii": "utf-8",  # 8-bit bytes under an ASCII label are almost always UTF-8
    "ascii": "utf-8",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "default": "utf-8",
    "koi8_r": "koi8-r",
}


#: codecs Python finds by name that are not charsets a mail can be written in: bytes-to-bytes transforms
#: (zlib, base64, hex, rot13 are refused by `_is_text_encoding`), and text codecs for other jobs
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "palmos", "mbcs", "oem", "charmap"}
)
#: C0 controls and DEL: nothing a header's text may carry into a PDU or a slide
_CONTROLS = dict.fromkeys([*range(0x20), 0x7F], " ")


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when Python knows no such charset (a transform codec
    such as zlib, or a label with a NUL in it, counts as unknown)."""
    if not charset:
        return "utf-8"
    label = charset.strip().strip('"').lower()
    label = CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("_", "-") in _NOT_CHARSETS:
        return None
    return info.name


#: a UTF-16 code unit alone (no character): some decoders make them (UTF-7's "+2D8-"), and no encoder takes them
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_bytes(raw: bytes, charset: str | None, warnings: list[str], what: str) -> str:
    """`raw` in `charset`; an unknown charset falls back to UTF-8 then windows-1252, with a warning. Lone
    surrogates a decoder lets through are U+FFFD."""
    text = _decoded(raw, charset, warnings, what)
    return _LONE_SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def _decoded(raw: bytes, charset: str | None, warnings: list[str], what: str) -> str:
    name = codec_for(charset)
    if name is None:
        warnings.append(f"{what}: unknown charset {charset!r}, read as UTF-8")
        name = "utf-8"
    if name != "utf-8" and not raw.isascii() and not name.startswith(("utf-16", "utf-32")):
        # Valid multi-byte UTF-8 is almost never an accident, while mail mislabelled as GB2312, Big5 or
        # Latin-1 that is really UTF-8 is common (and GB18030 would "decode" it into nonsense).
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append(f"{what}: labelled {charset} but is UTF-8")
            return text
    try:
        return raw.decode(name)
    except UnicodeError:  # UnicodeDecodeError, and the plain UnicodeError some codecs raise
        pass
    if name == "utf-8" and charset in (None, "", "us-ascii", "ascii"):
        # unlabelled or ASCII-labelled 8-bit text that is not UTF-8 is most often windows-1252
        return raw.decode("cp1252", "replace")
    try:
        text = raw.decode(name, "replace")
    except UnicodeError:
        text = raw.decode("utf-8", "replace")
    warnings.append(f"{what}: bytes that are not {charset or 'UTF-8'} replaced by U+FFFD")
    return text


#: what of a header's value is read: far more than any MMS field (a Subject is shown in ~40 characters)
MAX_HEADER_CHARS = 4096


def decode_header_value(value: object, warnings: list[str], what: str, fallback: str | None = None) -> str:
    """An RFC 2047 header value as text; raw 8-bit octets are read in `fallback` (the body's charset)."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) > MAX_HEADER_CHARS:
        value = value[:MAX_HEADER_CHARS]  # the stdlib decoder is quadratic in encoded words; no MMS field is longer
    if isinstance(value, str) and "=?" not in value and value.isascii() and value.isprintable():
        return " ".join(value.split())  # nothing encoded: most headers of most mails
    out = []
    try:
        # a str, or the Header object compat32 makes of a header with raw 8-bit octets
        chunks = decode_header(value)  # type: ignore[arg-type]
    except (ValueError, LookupError, AssertionError, HeaderParseError):
        chunks = [(str(value), None)]
    for chunk, label in chunks:
        charset = None if label in (None, "unknown-8bit") else label
        if isinstance(chunk, str):
            # compat32 keeps raw 8-bit header octets as surrogate escapes
            raw = chunk.encode("utf-8", "surrogateescape")
            out.append(decode_bytes(raw, charset or fallback, warnings, what))
        else:
            out.append(decode_bytes(chunk, charset, warnings, what))
    text = "".join(out).translate(_CONTROLS)
    return " ".join(text.split())


# --- HTML -> text -------------------------------------------------------------------------------------------

_BLOCK = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "table",
        "tr",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "dl",
        "dt",
        "dd",
        "center",
        "address",
        "form",
        "fieldset",
    ]
)
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "object", "iframe"})
#: elements without an end tag: never on the stack of open elements
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
#: what mail clients hide: preheaders and the like (`display:none`, `visibility:hidden`, Outlook's `mso-hide:all`)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all", re.I)
#: what marks a line as a heading: heading elements, and a line set all in bold
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "b", "strong"})
#: a heading is short: a longer line before a picture is text, not its title
MAX_HEADING_CHARS = 80
#: a link's URL is shown after its text only when at most this long (alerts carry 130-character links)
MAX_URL_CHARS = 40


def _ending_heading(segment: str, heading_text: str) -> str:
    """The last line of `segment` when it is a short heading (its whole text was in a heading or bold), else ""."""
    lines = [ln.strip() for ln in segment.split("\n") if ln.strip()]
    if not lines or not heading_text:
        return ""
    last = " ".join(lines[-1].split())
    headings = [" ".join(h.split()) for h in heading_text.split("\n") if h.strip()]
    return last if last in headings and len(last) <= MAX_HEADING_CHARS else ""


def _hidden(attrs: dict[str, str | None]) -> bool:
    classes = (attrs.get("class") or "").lower().split()
    return "hidden" in attrs or bool(_HIDDEN_STYLE.search(attrs.get("style") or "")) or "preheader" in classes


def _pixel(attrs: dict[str, str | None]) -> bool:
    """A 1x1 (or 0x0, 2x2) image: a tracking pixel or a spacer, nothing to show."""

    def size(name: str) -> int | None:
        value = (attrs.get(name) or "").strip().lower().removesuffix("px")
        if not value:
            m = re.search(rf"(?:^|;)\s*{name}\s*:\s*(\d+)px", attrs.get("style") or "", re.I)
            value = m.group(1) if m else ""
        return int(value) if value.isdigit() else None

    width, height = size("width"), size("height")
    return width is not None and height is not None and width <= 2 and height <= 2


@dataclass
class HtmlText:
    """An HTML body's text cut at its images: `segments[i]` is the text before image `i`, whose src is
    `images[i]`."""

    segments: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    #: per image, the heading (h1-h6, or a line all in bold) that ends the text right before it, "" for none
    headings: list[str] = field(default_factory=list)


class _Extractor(HTMLParser):
    def __init__(self, max_url_chars: int = MAX_URL_CHARS) -> None:
        super().__init__(convert_charrefs=True)
        self.out = HtmlText()
        self.buf: list[str] = []
        self.skip = 0
        self.pre = 0
        self.link: str | None = None
        self.link_text: list[str] = []
        self.max_url_chars = max_url_chars
        #: open elements (tag, hidden), to know when a hidden one ends; `hidden` counts the hidden ones open
        self.open: list[tuple[str, bool]] = []
        self.hidden = 0
        #: inside a heading or bold element; the heading text met since the last image
        self.emphasis = 0
        self.heading: list[str] = []

    def _newline(self, n: int = 1) -> None:
        self.buf.append("\n" * n)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        a = dict(attrs)
        if tag not in _VOID:
            hidden = _hidden(a)
            self.open.append((tag, hidden))
            self.hidden += hidden
        if self.hidden or (tag in _VOID and _hidden(a)):
            return
        if tag in _HEADING_TAGS:
            if not self.emphasis:
                self.heading = []  # only the last heading before an image counts
            self.emphasis += 1
        if tag == "br":
            self._newline()
        elif tag in _BLOCK:
            self._newline(2 if tag in ("p", "div", "table", "blockquote", "ul", "ol") else 1)
            if tag == "pre":
                self.pre += 1
        elif tag == "li":
            self.buf.append("\n• ")
        elif tag == "td" or tag == "th":
            self.buf.append(" ")
        elif tag == "a":
            self.link = a.get("href")
            self.link_text = []
        elif tag == "img" and not _pixel(a):
            src = a.get("src") or ""
            segment = "".join(self.buf)
            self.out.segments.append(segment)
            self.out.images.append(src)
            self.out.headings.append(_ending_heading(segment, " ".join("".join(self.heading).split())))
            self.buf = []
            self.heading = []
            alt = a.get("alt")
            if alt and not src.lower().startswith("cid:"):
                self.buf.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        was_hidden = self.hidden
        if any(t == tag for t, _ in self.open):  # close it and whatever was left open inside it
            while self.open:
                t, hidden = self.open.pop()
                self.hidden -= hidden
                if t == tag:
                    break
        if was_hidden:
            return
        if tag in _HEADING_TAGS:
            self.emphasis = max(0, self.emphasis - 1)
            if not self.emphasis:
                self.heading.append("\n")
        if tag in _BLOCK:
            self._newline(2 if tag in ("p", "div", "table", "blockquote", "ul", "ol") else 1)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.link is not None:
            text = "".join(self.link_text).strip()
            href = self.link
            shown = href.startswith(("http://", "https://")) and href.rstrip("/") != text.rstrip("/")
            if shown and (len(href) <= self.max_url_chars or not text):
                self.buf.append(f" ({href})")
            self.link = None

    def handle_data(self, data: str) -> None:
        if self.skip or self.hidden:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        self.buf.append(data)
        if self.emphasis:
            self.heading.append(data)
        if self.link is not None:
            self.link_text.append(data)


#: a tag from its "<name" up to its ">" or, when that is missing, up to the next "<" (never across one)
_TAG = re.compile(r"<(?=[A-Za-z/!?])[^<>]*>?")


def _mend_tag(m: re.Match[str]) -> str:
    tag = m.group(0)
    if tag.startswith("<!["):
        return " "  # a CDATA or marked section: in HTML, browsers read it as a bogus comment up to its ">"
    if tag.endswith(">") and tag.count('"') % 2 == 0 and tag.count("'") % 2 == 0:
        return tag
    # an unclosed quote or tag: HTMLParser would look for its end to the end of the document, once per tag,
    # which makes broken markup quadratic; without quotes and with its ">" it is read in one pass
    return tag.rstrip(">").replace('"', " ").replace("'", " ") + ">"


def _drop_comments(html: str) -> str:
    """`html` without its comments — Outlook's conditional blocks (`<!--[if mso]>...<![endif]-->`) among them —
    and cut at a comment that never closes (all of the rest is inside it); one pass."""
    out: list[str] = []
    at, start = html.find("<!--"), 0
    while at >= 0:
        out.append(html[start:at])
        end = html.find("-->", at + 4)
        if end < 0:
            return "".join(out)
        start = end + 3
        at = html.find("<!--", start)
    out.append(html[start:])
    return "".join(out)


def html_to_text(html: str, *, max_url_chars: int = MAX_URL_CHARS) -> HtmlText:
    """Readable text from HTML: paragraphs, line breaks, list bullets and link targets kept; no markup, CSS or
    scripts. The text is cut at each <img>, so that an image's caption is the text that follows it. Broken tags
    (an attribute's quote or the tag itself never closed) are mended first, so the cost stays linear."""
    parser = _Extractor(max_url_chars)
    html = _TAG.sub(_mend_tag, _drop_comments(html))
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):
        pass  # HTMLParser gives up on some broken markup; what it read so far is kept
    parser.out.segments.append("".join(parser.buf))
    parser.out.segments = [tidy(s) for s in parser.out.segments]
    return parser.out


def tidy(text: str) -> str:
    """Spaces trimmed per line, at most one blank line in a row, no leading or trailing blank lines."""
    lines = [ln.strip() if not ln.startswith("    ") else ln.rstrip() for ln in text.replace("\r", "").split("\n")]
    out: list[str] = []
    for ln in lines:
        if not ln and (not out or not out[-1]):
            continue
        out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


# --- trimming -----------------------------------------------------------------------------------------------

#: a line that trimming could act on: a quote, a signature separator, an "Original Message" separator
_MAY_TRIM = re.compile(r"^(?:\s*>|--\s?$|-{2,}\s*(?:Original|Ursprüngliche|Message d))", re.M | re.I)
_ATTRIBUTION = re.compile(r"^(On .{4,200} wrote:|Am .{4,200} schrieb .{1,100}:|Le .{4,200} a écrit :)$")
_ORIGINAL = re.compile(r"^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d.origine)\s*-{2,}$", re.I)


def trim(text: str, *, signature: bool = True, quotes: bool = True) -> str:
    """Drop the signature (from the `-- ` line on) and quoted replies (`>` lines, their attribution line, and
    everything after an "Original Message" separator)."""
    if not _MAY_TRIM.search(text):  # no quote, signature or separator line at all: nothing to cut
        return tidy(text)
    lines = text.split("\n")
    out: list[str] = []
    for ln in lines:
        if signature and ln in ("-- ", "--"):
            break
        if quotes and _ORIGINAL.match(ln.strip()):
            break
        if quotes and ln.lstrip().startswith(">"):
            continue
        out.append(ln)
    if quotes:
        while out and (not out[-1].strip() or _ATTRIBUTION.match(out[-1].strip())):
            out.pop()
    return tidy("\n".join(out))

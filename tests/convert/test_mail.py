"""The MIME walk and the text rules, on mails built the way clients build them."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.codec.mms import Priority, SendReq, decode_pdu
from bridge.convert.compose import ConversionRefused, convert_mail
from bridge.convert.extract import extract
from bridge.convert.text import html_to_text, trim
from tests.convert.helpers import CORPUS, mail, photo, write

BRIDGE = Path(sys.executable).with_name("bridge")


def texts(raw: bytes) -> list[str]:
    conv = convert_mail(raw)
    return [bytes(p.data).decode() for p in conv.parts if p.content_type.media_type == "text/plain"]


def test_html_keeps_paragraphs_lines_lists_and_links_but_no_markup_css_or_script() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>First&nbsp;paragraph.</p><p>Line one<br>Line two</p>"
        "<ul><li>apples</li><li>pears</li></ul>"
        '<p>See <a href="https://example.org/status">the status page</a>.</p></body></html>'
    )
    [text] = html_to_text(html).segments
    assert text == (
        "First paragraph.\n\nLine one\nLine two\n\n• apples\n• pears\n\n"
        "See the status page (https://example.org/status)."
    )


def test_signature_and_quoted_reply_are_trimmed_by_default_and_kept_on_request() -> None:
    body = "Yes, 3pm works.\n\nOn Thu, 26 Nov 2026 Alice wrote:\n> Can we meet?\n> Thanks\n\n-- \nBob\n555-0100"
    assert trim(body) == "Yes, 3pm works."
    assert "Can we meet" in trim(body, quotes=False) and "555-0100" in trim(body, signature=False)
    assert texts(mail(body)) == ["Yes, 3pm works."]


def _image_part(cid: str, data: bytes) -> bytes:
    head = f"--R\r\nContent-Type: image/jpeg\r\nContent-ID: <{cid}>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    return head.encode() + base64.encodebytes(data)


def test_inline_images_of_related_html_come_in_html_order_with_the_following_text_as_caption() -> None:
    a, b = photo(320, 240, seed=1), photo(320, 240, seed=2)
    raw = (
        b"From: a@example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/html\r\n\r\n"
        b'<p>Intro</p><img src="cid:second"><p>Caption B</p><img src="cid:first"><p>Caption A</p>\r\n'
        + _image_part("first", a)
        + _image_part("second", b)
        + b"--R--\r\n"
    )
    ex = extract(raw)
    assert [i.caption for i in ex.images] == ["Caption B", "Caption A"]
    assert ex.images[0].data == b and ex.images[1].data == a
    conv = convert_mail(raw)
    assert [(s.image is not None, s.text is not None) for s in conv.slides] == [
        (False, True),
        (True, True),
        (True, True),
    ]


def test_a_forwarded_message_brings_its_text_and_pictures() -> None:
    inner = mail("The inner text", subject="Inner", attachments=[(photo(200, 150), "image/jpeg", "in.jpg")])
    outer = (
        b"From: b@example.org\r\nSubject: Fwd: Inner\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nFYI\r\n'
        b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--M--\r\n"
    )
    ex = extract(outer)
    assert ex.texts[0] == "FYI" and "Forwarded: Inner" in ex.texts[1] and "The inner text" in ex.texts
    assert [i.name for i in ex.images] == ["in.jpg"]


def test_pdf_and_zip_are_dropped_and_the_mms_says_so_in_one_line() -> None:
    raw = mail(
        "Invoice attached",
        attachments=[
            (b"%PDF-1.4 ...", "application/pdf", "invoice.pdf"),
            (b"PK\x03\x04", "application/zip", "a.zip"),
        ],
    )
    [text] = texts(raw)
    assert text == "Invoice attached\n\nNot sent: invoice.pdf (application/pdf), a.zip (application/zip)"


def test_nothing_convertible_and_no_subject_is_refused() -> None:
    raw = mail(None, subject="", attachments=[(b"MZ\x90\x00", "application/octet-stream", "setup.exe")])
    with pytest.raises(ConversionRefused) as info:
        convert_mail(raw)
    assert info.value.status == "5.6.0" and "setup.exe" in info.value.reason


def test_headers_become_mms_headers() -> None:
    raw = mail(
        "Server down",
        subject="=?utf-8?q?Alerte_=C3=A9lev=C3=A9e?=",
        headers={
            "Importance": "high",
            "Disposition-Notification-To": "ops@example.org",
            "Return-Receipt-To": "x@y",
        },
    )
    conv = convert_mail(raw)
    assert conv.subject == "Alerte élevée"
    assert conv.priority is Priority.HIGH and conv.read_report and conv.delivery_report
    assert conv.sender == "camera@example.org"
    assert conv.mail_message_id == "<snap-1@example.org>"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("charset-iso2022jp--mimekit--1.eml", ["日本語", "テスト"]),
        ("charset-gb2312--spamscope--1.eml", ["代开各地增值税发票", "你好"]),
        ("charset-gb2312--spamscope--2.eml", ["我把镜头拉近些"]),
        ("charset-utf7--zbateson--1.eml", ["Frösche", "mißliche"]),
        ("charset-iso8859-1--cpython--1.eml", ["Some removed text"]),
        ("auto-reply--php-mime-mail-parser--1.eml", ["Automatyczna odpowiedź", "miesięcy"]),
        ("dsn--sisimai--4.eml", ["ニャーン"]),
        ("image-jpeg--rubymail--1.eml", ["Eelanalüüsi päring"]),
        ("raw-8bit-headers--rubymail--1.eml", ["Formação", "Verão"]),
        ("rfc2231--zbateson--1.eml", ["Frösche"]),
        ("charset-x-mac-cyrillic--php-mime-mail-parser--1.eml", ["Scientific conferences, Bulgaria"]),
        ("image-jpeg--php-mime-mail-parser--2.eml", ["사진.JPG"]),
    ],
)
def test_each_charset_of_the_corpus_comes_out_as_utf8_text(name: str, words: list[str]) -> None:
    conv = convert_mail((CORPUS / name).read_bytes())
    shown = (
        (conv.subject or "")
        + "\n"
        + "\n".join(bytes(p.data).decode("utf-8") for p in conv.parts if p.content_type.media_type == "text/plain")
    )
    for word in words:
        assert word in shown, (name, word, shown[:300])


def test_tnef_and_uuencode_attachments_are_opened() -> None:
    tnef = extract((CORPUS / "tnef--mimekit--2.eml").read_bytes())
    assert tnef.images, tnef.dropped
    uu = extract((CORPUS / "uuencode--zbateson--2.eml").read_bytes())
    assert len(uu.images) == 3 and all(i.data[:4] == b"\x89PNG" for i in uu.images)


def test_signed_content_of_smime_and_pgp_mime_is_sent() -> None:
    pgp = extract((CORPUS / "pgp-signed--zbateson--1.eml").read_bytes())
    assert pgp.images and (pgp.texts or any(i.caption for i in pgp.images))
    smime = extract((CORPUS / "smime--mimekit--1.eml").read_bytes())
    assert smime.images and not any("pkcs7" in d for d in smime.dropped)


def test_bridge_convert_writes_the_pdu_and_reports(tmp_path: Path) -> None:
    src = write(tmp_path, "m.eml", mail("Motion at the door", attachments=[(photo(), "image/jpeg", "cam.jpg")]))
    out = tmp_path / "m.mms"
    run = subprocess.run(
        [str(BRIDGE), "convert", str(src), "-o", str(out), "--profile", "image-rich"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "of 102,400 bytes (image-rich)" in run.stdout and "from cam.jpg" in run.stdout
    pdu = decode_pdu(out.read_bytes())
    assert len(out.read_bytes()) <= 102_400 and len(pdu.parts) == 3  # type: ignore[union-attr]
    # a clip nothing can read, and nothing else in the mail
    avi = tmp_path / "clip.eml"
    avi.write_bytes(mail(None, subject="", attachments=[(b"RIFF....AVI LIST", "video/x-msvideo", "clip.avi")]))
    refused = subprocess.run([str(BRIDGE), "convert", str(avi)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "refused (5.6.1)" in refused.stderr


def test_bridge_convert_json_and_send_req(tmp_path: Path) -> None:
    import json

    src = write(tmp_path, "m.eml", mail("Hello", attachments=[(b"%PDF", "application/pdf", "a.pdf")]))
    out = tmp_path / "m.mms"
    run = subprocess.run(
        [str(BRIDGE), "convert", str(src), "-o", str(out), "--send-req", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["pdu"] == "send-req" and info["dropped"] == ["a.pdf (application/pdf)"]
    assert [p["kind"] for p in info["parts"]] == ["smil", "text"]
    assert isinstance(decode_pdu(out.read_bytes()), SendReq)


def test_the_size_bound_is_never_below_the_encoded_size() -> None:
    from dataclasses import replace

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from bridge.codec.mms import Priority, RetrieveConf, YesNo, encode_pdu
    from bridge.convert.compose import HEADER_RESERVE, ConvertOptions, _Builder
    from bridge.convert.extract import Extracted
    from bridge.convert.profile import DEFAULT_PROFILE
    from tests.codec.strategies import any_text, parts

    @settings(max_examples=300, deadline=None)
    @given(parts, st.one_of(st.none(), any_text), st.one_of(st.none(), any_text.filter(bool)))
    def check(body: tuple, subject: str | None, sender: str | None) -> None:  # type: ignore[type-arg]
        builder = _Builder(Extracted(subject=subject or "", sender=sender), DEFAULT_PROFILE, ConvertOptions())
        pdu = RetrieveConf(
            date=datetime(2106, 1, 1, tzinfo=UTC),
            sender=sender,
            subject=subject or None,
            priority=Priority.HIGH,
            read_report=YesNo.YES,
            delivery_report=YesNo.YES,
            content_class=None,
            content_type=builder._content_type(),
            parts=body,
        )
        assert builder._size_bound(body) - HEADER_RESERVE >= len(encode_pdu(replace(pdu)))

    check()


def test_a_decoder_that_makes_lone_surrogates_does_not_break_the_conversion() -> None:
    """UTF-7's "+2D8-" decodes to a lone surrogate, which no encoder takes (found by the mutation fuzzer, seed
    1795974837): it becomes U+FFFD and the MMS is made."""
    from bridge.codec.mms import encode_pdu
    from bridge.convert.compose import convert_mail, send_req

    raw = (b"From: a@example.org\r\nTo: 12015554567@mms.example.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-7\r\n\r\nHello +2D8- world\r\n")  # fmt: skip
    conv = convert_mail(raw)
    pdu = encode_pdu(send_req(conv, transaction_id="t", to=("+12015554567/TYPE=PLMN",)))
    assert "Hello \ufffd world".encode() in pdu

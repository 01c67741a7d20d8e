"""HTML mails as alerting and newsletter tools write them (issue 12, part 3): hidden preheaders and Outlook-only
blocks are not shown, tracking pixels are not pictures, long link URLs give way to the link's text, and the
signature rule holds after HTML is turned into text."""

from __future__ import annotations

from email.message import EmailMessage

from bridge.convert.compose import ConvertOptions, convert_mail

GRAFANA = (
    "https://grafana.example.com/d/abcdefghijklmnopqrstuvwxyz0123456789/node-exporter?orgId=1&viewPanel=2"
    "&from=now-6h&to=now"
)


def html_mail(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Grafana <alerts@example.org>"
    msg["To"] = "12015554567@mms.example.net"
    msg["Subject"] = "[FIRING:1] DiskFull"
    msg.set_content(html, subtype="html")  # HTML alone, as Grafana's and most monitoring tools' templates send
    return bytes(msg)


def text_of(raw: bytes, options: ConvertOptions | None = None) -> str:
    conv = convert_mail(raw, options=options or ConvertOptions())
    return "\n".join(bytes(p.data).decode() for p in conv.parts if p.content_type.media_type == "text/plain")


def test_hidden_content_is_not_shown() -> None:
    html = (
        '<span style="display: none !important; font-size:1px">Preheader: see what changed</span>'
        '<div class="preheader">Another preheader</div>'
        "<!--[if mso]><p>Outlook only</p><![endif]-->"
        '<div style="mso-hide:all"><table><tr><td>Outlook hides <b>this</b></td></tr></table></div>'
        "<p hidden>hidden attribute</p>"
        "<p>Disk /var is 97% full on db-1</p>"
    )
    text = text_of(html_mail(html))
    assert "Disk /var is 97% full on db-1" in text
    for gone in ("Preheader", "Another preheader", "Outlook", "hidden attribute"):
        assert gone not in text, (gone, text)


def test_long_urls_give_way_to_the_links_text_and_short_ones_stay() -> None:
    html = f'<p>Alert <a href="{GRAFANA}">View dashboard</a> or <a href="https://ex.io/s/a1">silence</a></p>'
    text = text_of(html_mail(html))
    assert "View dashboard" in text and GRAFANA not in text
    assert "silence (https://ex.io/s/a1)" in text
    # configurable: 0 shows no URL at all, a large limit shows them all
    assert "https://ex.io" not in text_of(html_mail(html), ConvertOptions(max_link_url_chars=0))
    assert GRAFANA in text_of(html_mail(html), ConvertOptions(max_link_url_chars=500))


def test_a_tracking_pixel_is_not_a_picture() -> None:
    html = (
        "<p>Hello</p>"
        '<img src="https://t.example.com/open.gif" width="1" height="1" alt="">'
        '<img src="https://t.example.com/o2.gif" style="width:1px;height:1px" alt="x">'
        "<p>World</p>"
    )
    conv = convert_mail(html_mail(html))
    assert len(conv.slides) == 1 and not any(p.content_type.media_type.startswith("image/") for p in conv.parts)
    assert "[x]" not in text_of(html_mail(html))


def test_the_signature_rule_holds_for_html_mails() -> None:
    for signature in ("<p>-- <br>Jane Doe<br>ACME Corp</p>", "<div>--&nbsp;</div><div>Jane Doe</div>"):
        text = text_of(html_mail(f"<p>The backup finished.</p>{signature}"))
        assert "The backup finished." in text and "Jane Doe" not in text, text

"""Text with the right picture (issue 12, part 3): captions are decided by layout. A report with a short heading
over each graph gives each graph its own heading; a mail with a line under each photo (Apple Mail's layout) gives
each photo the line under it; the signature is never a caption."""

from __future__ import annotations

import io
from email.message import EmailMessage

from PIL import Image

from bridge.convert.compose import Conversion, convert_mail


def graph(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 200), color).save(out, "PNG")
    return out.getvalue()


def related_mail(html: str, images: dict[str, bytes]) -> bytes:
    """An HTML mail with its pictures as cid: parts of a multipart/related, as reporting tools send them."""
    msg = EmailMessage()
    msg["From"] = "Zabbix <zabbix@example.org>"
    msg["To"] = "12015554567@mms.example.net"
    msg["Subject"] = "Daily report"
    msg.set_content(html, subtype="html")
    for cid, data in images.items():
        msg.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png")
    return bytes(msg)


def captions(conv: Conversion) -> dict[str, str]:
    """Each picture's source file name -> the text on its slide."""
    by_location = {
        p.content_location: bytes(p.data).decode() for p in conv.parts if p.content_type.media_type == "text/plain"
    }
    source = {i.location: i.source for i in conv.items if i.kind == "image"}
    return {str(source[s.image]): by_location.get(s.text or "", "") for s in conv.slides if s.image is not None}


def test_a_heading_over_each_graph_is_that_graphs_caption() -> None:
    html = (
        "<p>Daily report for db-1</p>"
        '<h3>CPU busy (24h)</h3><img src="cid:cpu">'
        '<h3>Disk /var used</h3><img src="cid:disk">'
        "<p>-- <br>Zabbix on monitor-1</p>"
    )
    conv = convert_mail(related_mail(html, {"cpu": graph("red"), "disk": graph("blue")}))
    found = captions(conv)
    assert found["cpu.png"].startswith("CPU busy (24h)"), found
    assert found["disk.png"].startswith("Disk /var used"), found
    assert not any("Zabbix on monitor-1" in text for text in found.values())


def test_bold_lines_count_as_headings_too() -> None:
    html = '<div><b>Memory</b></div><img src="cid:mem"><div><b>Network</b></div><img src="cid:net">'
    found = captions(convert_mail(related_mail(html, {"mem": graph("green"), "net": graph("gray")})))
    assert found["mem.png"].startswith("Memory") and found["net.png"].startswith("Network"), found


def test_a_line_under_each_photo_is_that_photos_caption() -> None:
    html = (
        "<div>Here are the photos:</div>"
        '<img src="cid:door"><div>The front door at 7:02</div>'
        '<img src="cid:garden"><div>The garden gate</div>'
    )
    found = captions(convert_mail(related_mail(html, {"door": graph("white"), "garden": graph("black")})))
    assert found["door.png"].startswith("The front door at 7:02"), found
    assert found["garden.png"].startswith("The garden gate"), found

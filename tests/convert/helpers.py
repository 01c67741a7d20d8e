"""Mails for the conversion tests, built with the standard library's email package, as mail clients do."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from PIL import Image

from tests.paths import SHARED

MEDIA = SHARED / "media"
CORPUS = SHARED / "corpus" / "real"


def media(name: str) -> bytes:
    return (MEDIA / name).read_bytes()


def photo(width: int = 4032, height: int = 3024, *, seed: int = 1, quality: int = 92) -> bytes:
    """A photo-like JPEG (smooth gradients and noise, as a camera makes), `width` x `height`."""
    base = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40 + seed)
    im = Image.merge("RGB", (base, noise, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def mail(
    text: str | None = "Hello from the camera",
    *,
    subject: str = "Snapshot",
    attachments: list[tuple[bytes, str, str]] = (),  # type: ignore[assignment]
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Camera <camera@example.org>"
    msg["To"] = "12015554567@mms.example.net"
    msg["Subject"] = subject
    msg["Date"] = "Fri, 27 Nov 2026 03:12:00 +0000"
    msg["Message-ID"] = "<snap-1@example.org>"
    for key, value in (headers or {}).items():
        msg[key] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for data, ctype, name in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def ffprobe(data: bytes, tmp: Path) -> dict[str, dict[str, Any]]:
    """The streams ffprobe (Debian's ffmpeg, an oracle nobody here wrote) finds in `data`, by codec type, with
    packets and frames counted; the container as "format", its tags merged in."""
    tool = shutil.which("ffprobe")
    assert tool, "ffprobe (Debian's ffmpeg) is needed: ./contrib/run-tests installs it"
    path = tmp / "probed"
    path.write_bytes(data)
    done = subprocess.run(
        [tool, "-v", "error", "-count_packets", "-count_frames", "-show_streams", "-show_format", "-of", "json",
         str(path)],
        capture_output=True,
        check=True,
        text=True,
    )  # fmt: skip
    info = json.loads(done.stdout)
    found: dict[str, dict[str, Any]] = {s["codec_type"]: s for s in info["streams"]}
    found["format"] = {**info["format"], **info["format"].get("tags", {})}
    return found

"""The README's walk-through as a user runs it: `bridge serve` on the embedded defaults (only the ports moved to 0
and the folders into a temporary directory), a mail with a photo sent with Python's smtplib, `bridge phone
--once` printing the MMS it received, `bridge queue ls` showing the job delivered."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
from pathlib import Path

from tests.convert.helpers import mail, photo

BRIDGE = Path(sys.executable).with_name("bridge")


def test_a_mail_becomes_an_mms_on_the_virtual_phone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[smtp]\nport = 0\n[mmsc]\nport = 0\n")
    serve = subprocess.Popen(
        [str(BRIDGE), "serve", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stdout is not None
        smtp_line, mmsc_line = serve.stdout.readline(), serve.stdout.readline()
        assert "SMTP on 127.0.0.1:" in smtp_line and "domains mms.localhost" in smtp_line, smtp_line
        assert mmsc_line.startswith("mms-bridge: MMSC on http://127.0.0.1:"), mmsc_line
        port = int(smtp_line.split("127.0.0.1:")[1].split(",")[0])
        raw = mail("Someone rang", subject="Door", attachments=[(photo(1200, 900), "image/jpeg", "door.jpg")])
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("me@example.org", ["12015554567@mms.localhost"], raw.replace(b"\n", b"\r\n"))
        phone = subprocess.run(
            [str(BRIDGE), "phone", "--once", "--wait", "20"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert phone.returncode == 0, phone.stderr
        [line] = phone.stdout.splitlines()
        assert line.startswith("+*******4567 ") and 'from camera@example.org "Door": 3 parts' in line, line
        assert "image/jpeg" in line and "-> var/phone/" in line
        folder = tmp_path / line.rsplit("-> ", 1)[1]
        assert (folder / "image1.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
        assert (folder / "text1.txt").read_text().startswith("Someone rang")
        queue = subprocess.run(
            [str(BRIDGE), "queue", "ls", "--config", str(config)], cwd=tmp_path, capture_output=True, text=True
        )
        assert " delivered " in queue.stdout, queue.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0

"""Log injection (issue: hardening): values from outside never start a line of their own in `bridge serve`'s
log, and parameters that are not what Kannel sends are refused before they are logged."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bridge.logs import OneLineFormatter

BRIDGE = Path(sys.executable).with_name("bridge")


def test_the_formatter_keeps_one_event_on_one_line() -> None:
    formatter = OneLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sms id=%s", ("x\njob=FORGED state=delivered\r",), None)
    assert formatter.format(record) == "INFO sms id=x\\njob=FORGED state=delivered\\r"
    try:
        raise ValueError("bad\njob=FORGED")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    lines = formatter.format(record).splitlines()
    assert lines[0] == "ERROR oops" and all(line.startswith("  | ") for line in lines[1:])
    assert any("bad\\njob=FORGED" in line for line in lines)


def test_forged_lines_never_reach_the_log_of_a_running_bridge(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    # Kannel as the SMS transport, so that its delivery reports are taken at /sms/dlr (no SMS is sent here)
    config.write_text(
        '[smtp]\nport = 0\n[mmsc]\nport = 0\n[sms]\nkind = "kannel"\n'
        '[sms.kannel]\nsendsms_url = "http://127.0.0.1:9/cgi-bin/sendsms"\n'
    )
    serve = subprocess.Popen(
        [str(BRIDGE), "serve", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        smtp_line, mmsc_line = serve.stdout.readline(), serve.stdout.readline()
        port = int(smtp_line.split("127.0.0.1:")[1].split(",")[0])
        base = mmsc_line.split("MMSC on ")[1].strip().removesuffix("/m/")
        with httpx.Client(base_url=base) as http:
            forged = "a\njob=FORGED state=delivered to=+1"
            assert http.get("/sms/dlr", params={"id": forged, "type": "1"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "²"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "99999999999999999999"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "1"}).status_code == 200
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.recv(4096)
            # aiosmtpd logs an unknown command as it came; a bare CR inside it must not start a line
            sock.sendall(b"EHLO x\r\nFOO\rjob=FORGED state=delivered\r\nQUIT\r\n")
            time.sleep(0.5)
    finally:
        serve.send_signal(signal.SIGTERM)
        _, log = serve.communicate(timeout=60)
    assert serve.returncode == 0
    lines = log.splitlines()
    assert lines and all(line[:4].isdigit() or line.startswith("  | ") for line in lines), log
    assert "FOO\\rJOB=FORGED" in log, log  # logged, escaped, on the line of its event

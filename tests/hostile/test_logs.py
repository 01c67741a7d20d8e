"""Log injection (issue: hardening): values from outside never start a line of their own in `bridge serve`'s
log, and parameters that are not what Kannel sends are refused before they are logged."""

from __future__ import annotations

import logging
import socket
import sys
import time
from pathlib import Path

import httpx

from bridge.logs import OneLineFormatter
from tests.serving import served


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
    # Kannel as the SMS transport, so that its delivery reports are taken at /sms/dlr (no SMS is sent here)
    config = (
        '[smtp]\nport = 0\n[mmsc]\nport = 0\n[sms]\nkind = "kannel"\n'
        '[sms.kannel]\nsendsms_url = "http://127.0.0.1:9/cgi-bin/sendsms"\n'
    )
    with served(tmp_path, config) as bridge:
        with httpx.Client(base_url=bridge.mmsc_url) as http:
            forged = "a\njob=FORGED state=delivered to=+1"
            assert http.get("/sms/dlr", params={"id": forged, "type": "1"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "²"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "99999999999999999999"}).status_code == 400
            assert http.get("/sms/dlr", params={"id": "ok-1", "type": "1"}).status_code == 200
        with socket.create_connection(("127.0.0.1", bridge.smtp_port), timeout=10) as sock:
            sock.recv(4096)
            # aiosmtpd logs an unknown command as it came; a bare CR inside it must not start a line
            sock.sendall(b"EHLO x\r\nFOO\rjob=FORGED state=delivered\r\nQUIT\r\n")
            time.sleep(0.5)
    assert bridge.process.returncode == 0
    log = bridge.log
    lines = log.splitlines()
    assert lines and all(line[:4].isdigit() or line.startswith("  | ") for line in lines), log
    assert "FOO\\rJOB=FORGED" in log, log  # logged, escaped, on the line of its event

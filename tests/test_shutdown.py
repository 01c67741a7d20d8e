"""SIGTERM drains: a DATA transaction in flight still gets its 250 and is stored; the process exits 0."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

BRIDGE = Path(sys.executable).with_name("bridge")


def test_sigterm_finishes_the_transaction_in_flight(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text(
        f'[smtp]\nport = 0\ndomains = ["mms.example.net"]\nspool_dir = "{tmp_path}/spool"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n'
        f'[route]\nkind = "folder"\n[route.folder]\nfolder = "{tmp_path}/d"\n'
        f'[reports]\noutbox = "{tmp_path}/o"\n'
    )
    proc = subprocess.Popen([str(BRIDGE), "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split("127.0.0.1:")[1].split(",")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<12015554567@mms.example.net>\r\nDATA\r\n"
                b"Subject: in flight\r\n\r\nfirst half\r\n"
            )
            got = b""
            while b"354 " not in got:
                got += sock.recv(4096)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None  # still draining
            sock.sendall(b"second half\r\n.\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(4096)
            assert reply.startswith(b"250 2.0.0 queued as"), reply
            sock.sendall(b"MAIL FROM:<a@example.org>\r\n")
            late = sock.recv(4096)
            assert late.startswith(b"421 4.3.2"), late
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:  # a failed assertion must not leave a bridge running
            proc.kill()
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM jobs WHERE state = 'leased'").fetchone()[0] == 0

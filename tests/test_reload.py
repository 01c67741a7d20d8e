"""SIGHUP (`systemctl reload`): `bridge serve` keeps running and its connections open, reads the users file and
the TLS certificate again, and says so in its log."""

from __future__ import annotations

import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt

from tests.adapters.test_intake import certificate  # noqa: F401 - the fixture

BRIDGE = Path(sys.executable).with_name("bridge")


def login(port: int, cert: Path, user: str, password: str) -> int:
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.starttls(context=ctx)
        try:
            return smtp.login(user, password)[0]
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code


def test_sighup_reloads_the_users_file_and_keeps_serving(tmp_path: Path, certificate: tuple[Path, Path]) -> None:  # noqa: F811
    cert, key = certificate
    users = tmp_path / "users"
    users.write_text("alice:" + bcrypt.hashpw(b"old", bcrypt.gensalt(rounds=4)).decode() + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[smtp]\nport = 0\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"\nusers_file = "{users}"\n'
        "[mmsc]\nport = 0\n"
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
        port = int(serve.stdout.readline().split("127.0.0.1:")[1].split(",")[0])
        assert login(port, cert, "alice", "old") == 235
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as open_before:
            users.write_text("alice:" + bcrypt.hashpw(b"new", bcrypt.gensalt(rounds=4)).decode() + "\n")
            serve.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert serve.poll() is None  # still running
            assert open_before.noop()[0] == 250  # and the connection open before it still works
        assert login(port, cert, "alice", "new") == 235
        assert login(port, cert, "alice", "old") == 535
    finally:
        serve.send_signal(signal.SIGTERM)
        _, log = serve.communicate(timeout=60)
    assert serve.returncode == 0
    assert "reload=done reloaded=users_file,tls_cert_file" in log, log

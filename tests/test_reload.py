"""SIGHUP (`systemctl reload`): `bridge serve` keeps running and its connections open, reads the users file and
the TLS certificate again, and says so in its log."""

from __future__ import annotations

import signal
import smtplib
import ssl
import time
from pathlib import Path

import bcrypt

from tests.adapters.test_intake import certificate  # noqa: F401 - the fixture
from tests.serving import served


def login(port: int, cert: Path, user: str, password: str) -> int:
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.starttls(context=ctx)
        try:
            return smtp.login(user, password)[0]
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code


def config_with(tmp: Path, cert: Path, key: Path) -> tuple[Path, str]:
    users = tmp / "users"
    users.write_text("alice:" + bcrypt.hashpw(b"old", bcrypt.gensalt(rounds=4)).decode() + "\n")
    text = (
        f'[smtp]\nport = 0\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"\nusers_file = "{users}"\n'
        "[mmsc]\nport = 0\n"
    )
    return users, text


def test_sighup_reloads_the_users_file_and_keeps_serving(tmp_path: Path, certificate: tuple[Path, Path]) -> None:  # noqa: F811
    cert, key = certificate
    users, config = config_with(tmp_path, cert, key)
    with served(tmp_path, config) as bridge:
        port = bridge.smtp_port
        assert login(port, cert, "alice", "old") == 235
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as open_before:
            users.write_text("alice:" + bcrypt.hashpw(b"new", bcrypt.gensalt(rounds=4)).decode() + "\n")
            bridge.process.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert bridge.process.poll() is None  # still running
            assert open_before.noop()[0] == 250  # and the connection open before it still works
        assert login(port, cert, "alice", "new") == 235
        assert login(port, cert, "alice", "old") == 535
    assert bridge.process.returncode == 0
    assert "reload=done reloaded=users_file,tls_cert_file" in bridge.log, bridge.log


def test_a_broken_users_file_at_reload_leaves_the_old_one_in_force(
    tmp_path: Path,
    certificate: tuple[Path, Path],  # noqa: F811
) -> None:
    cert, key = certificate
    users, config = config_with(tmp_path, cert, key)
    with served(tmp_path, config) as bridge:
        users.write_bytes(b"alice\x00:not a hash\r\n" + b"x" * 10_000)  # truncated, NUL, no bcrypt hash
        bridge.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert bridge.process.poll() is None
        assert login(bridge.smtp_port, cert, "alice", "old") == 235
    assert bridge.process.returncode == 0
    assert "reload=failed" in bridge.log and "Traceback" not in bridge.log, bridge.log

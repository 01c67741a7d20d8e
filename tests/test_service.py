"""Running it as a service (issue 15): the systemd unit passes `systemd-analyze verify` (Debian's systemd, an
oracle nobody here wrote), and `bridge serve` says READY=1 on the socket systemd gives it (Type=notify) only once
SMTP listens, and STOPPING=1 when told to stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "contrib" / "systemd" / "mms-bridge.service"
BRIDGE = Path(sys.executable).with_name("bridge")


def test_the_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is not installed: the README's test command installs systemd"
    text = UNIT.read_text()
    assert "ExecStart=/opt/mms-bridge/.venv/bin/bridge serve" in text
    # the unit names where the README installs the bridge; here it is this checkout's
    unit = tmp_path / "mms-bridge.service"
    unit.write_text(text.replace("/opt/mms-bridge/.venv/bin/bridge", str(BRIDGE)))
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    for setting in ("Type=notify", "DynamicUser=yes", "StateDirectory=mms-bridge", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "Restart=on-failure"):  # fmt: skip
        assert f"\n{setting}\n" in text, setting
    # and systemd itself reads it as written: the sandbox is what it reports
    shown = subprocess.run([tool, "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60)
    assert "Overall exposure level" in shown.stdout + shown.stderr


def test_serve_says_ready_to_systemd_once_smtp_listens_and_stopping_when_told(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(60)
    config = tmp_path / "b.toml"
    config.write_text(
        f'[smtp]\nport = 0\ndomains = ["mms.example.net"]\nspool_dir = "{tmp_path}/spool"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n'
        f'[route]\nkind = "folder"\n[route.folder]\nfolder = "{tmp_path}/d"\n'
        f'[reports]\noutbox = "{tmp_path}/o"\n'
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
    proc = subprocess.Popen([str(BRIDGE), "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready = sock.recv(4096).decode()
        assert ready.startswith("READY=1\n")
        port = int(ready.split("127.0.0.1:")[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as smtp:  # listening when it said so
            assert smtp.recv(512).startswith(b"220 ")
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096).decode().startswith("STOPPING=1")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_bridge_keys_and_bridge_send_through_a_running_bridge(tmp_path: Path) -> None:
    import json

    from tests.convert.helpers import photo

    config = tmp_path / "b.toml"
    config.write_text(
        f'[smtp]\nport = 0\ndomains = ["mms.example.net"]\nspool_dir = "{tmp_path}/spool"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n[route]\nkind = "builtin"\n[mmsc]\nport = 0\nack_wait_s = 0.3\n'
        f'[sms]\noutbox = "{tmp_path}/sms"\n[reports]\noutbox = "{tmp_path}/o"\n[admin]\nenabled = true\nport = 0\n'
    )
    made = subprocess.run([str(BRIDGE), "keys", "create", "--name", "ticketing", "--scope", "send", "--scope", "read",
                           "--config", str(config)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    listed = subprocess.run([str(BRIDGE), "keys", "ls", "--config", str(config)], capture_output=True, text=True)
    assert "active" in listed.stdout and "ticketing" in listed.stdout and key not in listed.stdout
    proc = subprocess.Popen([str(BRIDGE), "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[2].split("admin on ")[1].strip()
        picture = tmp_path / "door.jpg"
        picture.write_bytes(photo(640, 480))
        env = {**os.environ, "MMS_BRIDGE_API_KEY": key}
        send = subprocess.Popen(
            [str(BRIDGE), "send", "--url", url, "--to", "+12015554567", "--subject", "Door", "--text", "-",
             "--wait", "--wait-s", "60", str(picture), "--config", str(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert send.stdin is not None
        send.stdin.write("Someone at the door\n")
        send.stdin.close()
        # the virtual phone fetches it and acknowledges: --wait then sees it delivered
        phone = subprocess.run([str(BRIDGE), "phone", "--once", "--wait", "30", "--outbox", str(tmp_path / "sms"),
                                "--inbox", str(tmp_path / "phone"), "--config", str(config)],
                               capture_output=True, text=True, timeout=90)  # fmt: skip
        assert phone.returncode == 0, phone.stderr
        send.wait(timeout=90)
        assert send.stdout is not None and send.stderr is not None
        out, err = send.stdout.read(), send.stderr.read()
        assert send.returncode == 0, err
        assert out.startswith("message ") and "to +12015554567" in out and ": delivered 2.0.0" in out
        [folder] = list((tmp_path / "phone").iterdir())
        assert any(p.suffix == ".jpg" for p in folder.iterdir())
        refused = subprocess.run([str(BRIDGE), "send", "--url", url, "--to", "12", "--text", "x", "--config",
                                  str(config)], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        assert refused.returncode == 1 and "refused (422): 5.1.1" in refused.stderr
        keyless = {k: v for k, v in env.items() if k != "MMS_BRIDGE_API_KEY"}
        nokey = subprocess.run([str(BRIDGE), "send", "--url", url, "--to", "12015554567", "--config", str(config)],
                               capture_output=True, text=True, env=keyless, timeout=60)  # fmt: skip
        assert nokey.returncode == 1 and "MMS_BRIDGE_API_KEY" in nokey.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_keys_create_refuses_a_callback_that_is_not_http(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n')
    command = [str(BRIDGE), "keys", "create", "--name", "x", "--scope", "send", "--status-callback",
               "javascript:alert(1)", "--config", str(config)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "keys create --status-callback: status_callback: an http" in done.stderr

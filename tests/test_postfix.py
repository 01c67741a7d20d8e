"""Postfix in front (issue 15): a real Postfix (Debian's, an instance of its own in a temporary folder, on 127.0.0.1)
configured with exactly the lines of contrib/postfix, and `bridge serve` behind it with its DSNs relayed back
through Postfix. Mail submitted with Postfix's `sendmail` to a number reaches the virtual phone; mail to a number
that does not exist comes back as Postfix's bounce in the local sender's mailbox; a phone that rejects the MMS
brings the bridge's DSN, relayed by Postfix, to the same mailbox. Runs as root (as CI does): Postfix's master
process starts as root and drops to its `postfix` user."""

from __future__ import annotations

import email
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.phone import Answer, Phone
from tests.adapters.smsc import free_port

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib" / "postfix"
BRIDGE = Path(sys.executable).with_name("bridge")
POSTFIX, SENDMAIL = Path("/usr/sbin/postfix"), Path("/usr/sbin/sendmail")
DOMAIN = "mms.example.net"


def postfix_config(folder: Path, *, smtpd_port: int, bridge_port: int) -> Path:
    etc = folder / "etc"
    etc.mkdir()
    for name in ("master.cf", "dynamicmaps.cf"):
        source = Path("/etc/postfix") / name
        if source.exists():
            (etc / name).write_text(source.read_text())
    master = (etc / "master.cf").read_text()
    assert "\nsmtp      inet" in master
    (etc / "master.cf").write_text(master.replace("\nsmtp      inet", f"\n{smtpd_port}      inet"))
    # this instance's own places, then the lines contrib/postfix ships, as they are but for the map's path
    own = f"""compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = test
myorigin = $myhostname
mydestination = $myhostname, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps = hash:{etc}/aliases
alias_database = hash:{etc}/aliases
maillog_file_prefixes = {folder}
maillog_file = {folder}/maillog
smtp_dns_support_level = disabled
"""
    shipped = (CONTRIB / "main.cf").read_text().replace("/etc/postfix/transport", f"{etc}/transport")
    (etc / "main.cf").write_text(own + shipped)
    transport = (CONTRIB / "transport").read_text().replace("[127.0.0.1]:2525", f"[127.0.0.1]:{bridge_port}")
    assert DOMAIN in transport
    (etc / "transport").write_text(transport)
    mailboxes = folder / "mail"
    mailboxes.mkdir(mode=0o1777)
    mailboxes.chmod(0o1777)
    (etc / "aliases").write_text(f"tester: {mailboxes}/tester\n")
    return etc


@pytest.fixture
def postfix() -> Iterator[tuple[Path, int, int]]:
    assert POSTFIX.exists() and SENDMAIL.exists(), "Postfix is not installed: ./contrib/run-tests installs postfix"
    assert os.geteuid() == 0, "the Postfix test starts Postfix's master, which runs as root (CI runs as root)"
    smtpd_port, bridge_port = free_port(), free_port()
    # not under pytest's folder: Postfix's own user must reach its queue (pytest's folder is root's alone)
    folder = Path(tempfile.mkdtemp(prefix="mms-bridge-postfix-"))
    folder.chmod(0o755)
    etc = postfix_config(folder, smtpd_port=smtpd_port, bridge_port=bridge_port)
    for command in (
        ["postmap", "-c", str(etc), str(etc / "transport")],
        ["postalias", "-c", str(etc), str(etc / "aliases")],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    for name in ("queue", "data"):
        (folder / name).mkdir()
    subprocess.run(["chown", "-R", "postfix", str(folder / "queue"), str(folder / "data")], check=True)
    checked = subprocess.run([str(POSTFIX), "-c", str(etc), "check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    started = subprocess.run([str(POSTFIX), "-c", str(etc), "start"], capture_output=True, text=True, timeout=60)
    log = folder / "maillog"
    assert started.returncode == 0, started.stderr + (log.read_text() if log.exists() else "")
    try:
        yield etc, smtpd_port, bridge_port
    finally:
        subprocess.run([str(POSTFIX), "-c", str(etc), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def sendmail(etc: Path, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "tester@mta.test"
    msg["Subject"] = subject
    msg.set_content("Sent through Postfix")
    subprocess.run([str(SENDMAIL), "-C", str(etc), "-f", "tester@mta.test", to], input=msg.as_bytes(), check=True,
                   timeout=60)  # fmt: skip


def mailbox(etc: Path) -> list[email.message.Message]:
    path = etc.parent / "mail" / "tester"
    if not path.exists():
        return []
    raw = path.read_bytes()
    found = []
    for chunk in raw.split(b"\nFrom ")[0:]:
        body = chunk.split(b"\n", 1)[1] if chunk.startswith((b"From ", b"MAILER-DAEMON")) else chunk
        found.append(email.message_from_bytes(body, policy=policy.compat32))
    return found


def wait_for(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_postfix_in_front_relays_to_the_bridge_and_takes_its_dsns_back(
    postfix: tuple[Path, int, int], tmp_path: Path
) -> None:
    etc, smtpd_port, bridge_port = postfix
    folder = tmp_path / "bridge"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text(
        f'[smtp]\nport = {bridge_port}\ndomains = ["{DOMAIN}"]\nspool_dir = "{folder}/spool"\n'
        "rate_limit_per_minute = 0\n"
        f'[store]\nurl = "sqlite:///{folder}/b.db"\n[route]\nkind = "builtin"\n[mmsc]\nport = 0\nack_wait_s = 0.3\n'
        f'[sms]\noutbox = "{folder}/sms"\n'
        f'[reports]\nkind = "relay"\nrelay_host = "127.0.0.1"\nrelay_port = {smtpd_port}\n'
    )
    bridge = subprocess.Popen([str(BRIDGE), "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert bridge.stdout is not None and "SMTP on" in bridge.stdout.readline()
        # to a number: Postfix relays it to the bridge, the phone gets the MMS
        sendmail(etc, f"12015554567@{DOMAIN}", "Through Postfix")
        wait_for(lambda: list((folder / "sms").glob("*.ud")))
        phone = Phone(outbox=folder / "sms", inbox=folder / "phone", answer=Answer.ACKNOWLEDGE)
        [received] = phone.poll()
        assert received.message is not None and received.message.subject == "Through Postfix"
        # to a number that cannot exist: the bridge refuses it at RCPT, Postfix bounces to the local sender
        sendmail(etc, f"12@{DOMAIN}", "Nowhere")
        wait_for(lambda: any("Undelivered" in (m["Subject"] or "") for m in mailbox(etc)))
        [bounce] = [m for m in mailbox(etc) if "Undelivered" in (m["Subject"] or "")]
        assert "5.1.1" in bounce.as_string() and "too short" in bounce.as_string()
        # the phone rejects: the bridge's own DSN comes back through Postfix to the same mailbox
        sendmail(etc, f"12015554568@{DOMAIN}", "Rejected one")
        wait_for(lambda: [p for p in (folder / "sms").glob("*.ud") if "4568" in p.name])
        rejecting = Phone(outbox=folder / "sms", inbox=folder / "phone2", answer=Answer.REJECT)
        rejecting.poll()
        wait_for(lambda: any("Rejected one" in m.as_string() and "5.7.1" in m.as_string() for m in mailbox(etc)
                             if m.get_content_type() == "multipart/report"))  # fmt: skip
        log = (etc.parent / "maillog").read_text()
        assert f"relay=127.0.0.1[127.0.0.1]:{bridge_port}" in log and "status=sent" in log
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=60)

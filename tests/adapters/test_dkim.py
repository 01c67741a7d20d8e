"""DKIM under each policy, with keys published by a real DNS server on loopback (Debian's dnsmasq)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import dkim
import pytest

from bridge.app import Bridge
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, running
from tests.convert.helpers import mail

SIGNED = "signed.example"
SELECTOR = "sel2026"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, bytes]]:
    """dnsmasq on 127.0.0.1 serving the TXT record of a fresh 2048-bit key; (port, private key PEM)."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    assert Path(binary).exists(), "dnsmasq is not installed: the README's test command installs it"
    tmp = tmp_path_factory.mktemp("dkim")
    key = tmp / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    chunks = ",".join(record[i : i + 200] for i in range(0, len(record), 200))  # one TXT string each
    port = free_udp_port()
    proc = subprocess.Popen(
        [binary, "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file", "--user=root",
         f"--txt-record={SELECTOR}._domainkey.{SIGNED},{chunks}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "dnsmasq exited"
    try:
        yield port, key.read_bytes()
    finally:
        proc.terminate()
        proc.wait(10)


def signed_mail(private_key: bytes, sender: str = f"alarm@{SIGNED}") -> bytes:
    raw = mail("Intrusion at the gate", subject="Alarm").replace(b"camera@example.org", sender.encode())
    raw = raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    signature = dkim.sign(raw, SELECTOR.encode(), SIGNED.encode(), private_key, include_headers=[b"from", b"subject"])
    return signature + raw


def send(tmp: Path, port: int, raw: bytes, sender: str, **smtp: object) -> tuple[int, str, bytes | None]:
    result: list[tuple[int, str, bytes | None]] = []

    async def go() -> None:
        settings: dict[str, object] = {"dns_nameservers": ("127.0.0.1",), "dns_port": port, "dns_timeout_s": 3.0}
        config = bridge_config(tmp, **(settings | smtp))
        async with running(config) as bridge:
            assert bridge.port is not None
            result.append(await _send(bridge, raw, sender))

    asyncio.run(go())
    return result[0]


async def _send(bridge: Bridge, raw: bytes, sender: str) -> tuple[int, str, bytes | None]:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=30)
    await c.connect()
    await c.mail(sender)
    await c.rcpt(f"12015554567@{DOMAIN}")
    try:
        code, message = await c.data(raw)
    except aiosmtplib.SMTPDataError as exc:
        code, message = exc.code, exc.message
    await c.quit()
    jobs = await bridge.store.list()
    stored = (await bridge.store.message(jobs[0].message_id)).raw if jobs else None
    return code, message, stored


def test_required_and_validly_signed_passes(tmp_path: Path, dns: tuple[int, bytes]) -> None:
    port, key = dns
    code, _, stored = send(tmp_path, port, signed_mail(key), f"alarm@{SIGNED}", dkim_require_domains=(SIGNED,))
    assert code == 250 and stored is not None
    assert stored.startswith(f"Authentication-Results: bridge.test; dkim=pass header.d={SIGNED}".encode())


def test_required_and_unsigned_is_refused_with_5_7_20(tmp_path: Path, dns: tuple[int, bytes]) -> None:
    port, _ = dns
    raw = mail("no signature").replace(b"camera@example.org", f"alarm@{SIGNED}".encode())
    code, message, stored = send(tmp_path, port, raw, f"alarm@{SIGNED}", dkim_require_domains=(SIGNED,))
    assert (code, message[:6]) == (550, "5.7.20") and stored is None


def test_tampered_mail_fails_refused_under_require_recorded_under_verify(
    tmp_path: Path, dns: tuple[int, bytes]
) -> None:
    port, key = dns
    tampered = signed_mail(key).replace(b"Intrusion at the gate", b"All is well at the gate")
    code, _, _ = send(tmp_path / "a", port, tampered, f"alarm@{SIGNED}", dkim_require_domains=(SIGNED,))
    assert code == 550
    code, _, stored = send(tmp_path / "b", port, tampered, f"alarm@{SIGNED}", dkim_verify_domains=(SIGNED,))
    assert code == 250 and stored is not None
    assert stored.startswith(f"Authentication-Results: bridge.test; dkim=fail header.d={SIGNED}".encode())


def test_verify_records_none_for_unsigned_and_off_checks_nothing(tmp_path: Path, dns: tuple[int, bytes]) -> None:
    port, key = dns
    raw = mail("plain").replace(b"camera@example.org", f"alarm@{SIGNED}".encode())
    code, _, stored = send(tmp_path / "a", port, raw, f"alarm@{SIGNED}", dkim_verify_domains=("*",))
    assert code == 250 and stored is not None and b"dkim=none header.d=" + SIGNED.encode() in stored[:200]
    code, _, stored = send(tmp_path / "b", port, signed_mail(key), f"alarm@{SIGNED}")
    assert code == 250 and stored is not None and b"dkim=none (not checked by policy)" in stored[:200]


def test_a_dns_outage_under_require_is_a_temporary_refusal(tmp_path: Path, dns: tuple[int, bytes]) -> None:
    _, key = dns
    silent = free_udp_port()  # nothing answers there
    code, message, stored = send(
        tmp_path, silent, signed_mail(key), f"alarm@{SIGNED}", dkim_require_domains=(SIGNED,), dns_timeout_s=0.5
    )
    assert (code, message[:5]) == (451, "4.7.5") and stored is None

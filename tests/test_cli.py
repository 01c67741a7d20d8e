"""`bridge decode` and `bridge check-config`, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.codec.mms import MessageClass, NotificationInd, encode_pdu
from bridge.codec.wap_push import encode_wsp_push, segment_push
from tests.paths import ROOT, VECTORS

BRIDGE = Path(sys.executable).with_name("bridge")

NOTIFICATION = NotificationInd(
    transaction_id="T-42",
    sender="+12015554567/TYPE=PLMN",
    subject="Front door camera",
    message_class=MessageClass.PERSONAL,
    message_size=48_213,
    expiry=timedelta(days=2),
    content_location="http://127.0.0.1:8080/m/AbCdEfGhIjKlMnOp",
)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert BRIDGE.exists(), f"the console script is not installed at {BRIDGE}"
    return subprocess.run([str(BRIDGE), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "decode" in out.stdout and "check-config" in out.stdout


def test_decode_binary_pdu(tmp_path: Path) -> None:
    path = tmp_path / "n.mms"
    path.write_bytes(encode_pdu(NOTIFICATION))
    out = run("decode", path)
    assert out.returncode == 0, out.stderr
    assert "notification-ind" in out.stdout
    assert "X-Mms-Content-Location  http://127.0.0.1:8080/m/AbCdEfGhIjKlMnOp" in out.stdout
    assert "X-Mms-Expiry            +172800s (relative)" in out.stdout


def test_decode_hex_dump_as_json(tmp_path: Path) -> None:
    path = tmp_path / "n.hex"
    data = encode_pdu(NOTIFICATION).hex()
    path.write_text(" ".join(data[i : i + 2] for i in range(0, len(data), 2)) + "\n")
    out = run("decode", "--json", path)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    headers = {h["name"]: h["value"] for h in info["pdu"]["headers"]}
    assert info["pdu"]["type"] == "notification-ind"
    assert headers["X-Mms-Message-Size"] == 48_213
    assert headers["Subject"] == "Front door camera"
    assert headers["X-Mms-MMS-Version"] == "1.3"


def test_decode_push_segments_given_in_any_order(tmp_path: Path) -> None:
    uds = segment_push(encode_wsp_push(encode_pdu(NOTIFICATION)), reference=3)
    files = []
    for i, ud in enumerate(uds, 1):
        f = tmp_path / f"sms-{i}.ud"
        f.write_bytes(ud)
        files.append(f)
    out = run("decode", "--json", *reversed(files))
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["sms_segments"] == len(uds)
    assert info["push"]["application_id"] == "MMS_UA (0x04)"
    assert info["pdu"]["type"] == "notification-ind"


def test_decode_operator_tpdus() -> None:
    out = run("decode", VECTORS / "wap-push" / "o2-notification-a.tpdu-smsc.hex")
    assert out.returncode == 0, out.stderr
    assert "WAP Push in 2 SMS" in out.stdout
    assert "http://promms/servlets/NOK5CiKcoTMYSG4MBSwAAsKv14FUHAAAAAAAA" in out.stdout


def test_decode_a_real_send_req_shows_parts_and_slides() -> None:
    out = run("decode", VECTORS / "python-messaging" / "iPhone.mms")
    assert out.returncode == 0, out.stderr
    assert "part 2: image/jpeg" in out.stdout
    assert "slide 1: 10000 ms image=IMG_6807.jpg" in out.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes.fromhex("8c82985400"), "offset 5"),
        (bytes.fromhex("8c8298"), "offset 3"),
        (b"hello world, not a PDU", "neither an MMS PDU"),
        (b"8c8", "even number of hex digits"),
    ],
)
def test_malformed_input_exits_non_zero_naming_file_and_offset(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    out = run("decode", path)
    assert out.returncode == 1
    assert str(path) in out.stderr and expected in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_segment_is_named(tmp_path: Path) -> None:
    uds = segment_push(encode_wsp_push(encode_pdu(NOTIFICATION) + b"x" * 200), reference=3)
    path = tmp_path / "first.ud"
    path.write_bytes(uds[0])
    out = run("decode", path)
    assert out.returncode == 1 and "missing [2" in out.stderr


def test_check_config_accepts_the_shipped_default_and_names_a_bad_key(tmp_path: Path) -> None:
    ok = run("check-config", "--config", ROOT / "config.toml")
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[decode]\nmax_input_bytes = "big"\n')
    out = run("check-config", "--config", bad)
    assert out.returncode == 1
    assert f"{bad}: decode.max_input_bytes: expected int, got str" in out.stderr


def test_check_config_wants_a_public_url_for_a_rest_route_and_says_which_route_a_number_takes(tmp_path: Path) -> None:
    twilio = (
        '[[route]]\nname = "tw"\nkind = "twilio"\n[route.twilio]\n'
        f'account_sid = "AC{"0" * 32}"\nauth_token = "t"\nfrom_number = "+15550100"\n'
    )
    config = tmp_path / "rest.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n' + twilio)
    out = run("check-config", "--config", config)
    assert out.returncode == 1 and "mmsc.public_url:" in out.stderr and "'tw'" in out.stderr
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/b.db"\n[mmsc]\npublic_url = "https://mms.example.net"\n'
                      + twilio)  # fmt: skip
    ok = run("check-config", "--config", config, "--number", "+12015554567")
    assert ok.returncode == 0, ok.stderr
    assert "+12015554567 -> route tw (twilio)" in ok.stdout


def test_queue_lists_shows_retries_and_purges(tmp_path: Path) -> None:
    import asyncio

    from bridge.adapters.store.base import NewJob
    from bridge.adapters.store.sqlite import SQLiteJobStore
    from bridge.model import MSISDN, Notify, StoredMessage

    db = tmp_path / "q.db"
    config = tmp_path / "q.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{db}"\n')

    async def fill() -> None:
        store = await SQLiteJobStore.open(db)
        message = StoredMessage(id="m1", mail_from="a@example.org", received_at=1.0, raw=b"r", mms=b"m", subject="S")
        jobs = [
            NewJob(id=f"m1-{k}", recipient=MSISDN(e164=f"+1201555456{k}"), notify=frozenset({Notify.FAILURE}),
                   rcpt_to=f"1201555456{k}@x", original_recipient=None, expires_at=9e9)
            for k in range(2)
        ]  # fmt: skip
        await store.put(message, jobs)
        await store.close()

    asyncio.run(fill())
    listed = run("queue", "ls", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert "m1-0  queued" in listed.stdout and "+*******4560" in listed.stdout and "+12015554560" not in listed.stdout
    shown = run("queue", "show", "m1-1", "--config", config)
    info = json.loads(shown.stdout)
    assert info["message"]["subject"] == "S" and info["job"]["state"] == "queued"
    assert info["job"]["notify"] == ["FAILURE"] and "frozenset" not in shown.stdout  # plain values, no reprs
    assert run("queue", "retry", "m1-0", "--config", config).returncode == 0
    assert run("queue", "purge", "m1-0", "--config", config).returncode == 0
    assert run("queue", "purge", "m1-0", "--config", config).returncode == 1
    missing = run("queue", "show", "nope", "--config", config)
    assert missing.returncode == 1 and "no job nope" in missing.stderr
    assert "m1-0" not in run("queue", "ls", "--config", config).stdout


def test_check_config_opens_the_files_it_names(tmp_path: Path) -> None:
    bad_cert = tmp_path / "tls.toml"
    bad_cert.write_text(f'[smtp]\ntls_cert_file = "{tmp_path}/missing.pem"\ntls_key_file = "{tmp_path}/missing.key"\n')
    out = run("check-config", "--config", bad_cert)
    assert out.returncode == 1 and "smtp.tls_cert_file:" in out.stderr and "missing.pem" in out.stderr
    users = tmp_path / "users"
    users.write_text("alice:not-a-hash\n")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=x"],
        check=True, capture_output=True,
    )  # fmt: skip
    bad_users = tmp_path / "users.toml"
    bad_users.write_text(f'[smtp]\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"\nusers_file = "{users}"\n')
    out = run("check-config", "--config", bad_users)
    assert out.returncode == 1 and f"smtp.users_file: {users}:1: expected user:<bcrypt hash>" in out.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = tmp_path / "folder.toml"
    folder.write_text(f'[route]\nkind = "folder"\n[route.folder]\nfolder = "{blocker}/delivered"\n')
    out = run("check-config", "--config", folder)
    assert out.returncode == 1 and f"route.folder.folder: {blocker}/delivered cannot be written" in out.stderr


def test_check_config_shows_which_route_each_number_takes(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        '[smtp]\ndefault_region = "US"\n'
        '[[route]]\nname = "uk"\nkind = "mm7"\nprefixes = ["+44"]\nfallback = "own"\n'
        '[route.mm7]\nurl = "https://mm7.example.co.uk/mm7"\ncallback_allow = ["192.0.2.0/24"]\n'
        '[[route]]\nname = "nyc"\nkind = "eaif"\nprefixes = ["+1212", "+1646"]\n'
        '[route.eaif]\nurl = "http://eaif.example.com/"\n'
        '[[route]]\nname = "own"\nkind = "builtin"\n'
    )
    out = run("check-config", "--config", path, "--number", "+44 20 7946 0958", "--number", "(212) 555-0100",
              "--number", "+1 201 555 4567")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1:] == [
        "+442079460958 -> route uk (mm7), falling back to own",
        "+12125550100 -> route nyc (eaif)",
        "+12015554567 -> route own (builtin)",
    ]
    bad = run("check-config", "--config", path, "--number", "hello")
    assert bad.returncode == 1 and "--number 'hello': not a phone number" in bad.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[[route]]\nname = "a"\nkind = "folder"\nfallback = "b"\n')
    out = run("check-config", "--config", broken)
    assert out.returncode == 1 and "route.fallback: no route named 'b' (route 'a')" in out.stderr

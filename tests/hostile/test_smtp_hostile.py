"""Hostile SMTP clients against the running bridge (issue: hardening): a full spool in the middle of DATA with
commands hidden in the body, control characters in every envelope field, commands pipelined after the end of
data, numbers that are not numbers, the null sender, undeclared 8-bit data. Every reply must carry an enhanced
status code, and nothing in a body may ever be read as a command."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.app import Bridge
from bridge.codec.mms import SendReq, decode_pdu
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, running
from tests.hostile.smtp_wire import FINAL_WITH_ENHANCED, Wire

RCPT = f"12015554567@{DOMAIN}"
INJECTED = f"12015554568@{DOMAIN}"


def run_bridge(tmp: Path, body: object, **smtp: object) -> None:
    async def go() -> None:
        async with running(bridge_config(tmp, **smtp)) as bridge:
            assert bridge.port is not None
            await body(bridge, bridge.port)  # type: ignore[operator]

    asyncio.run(go())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (the tests run as root in CI), as a spool folder that can fill up."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root: {done.stderr.decode()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def smuggling_body(size: int) -> bytes:
    """A mail of about `size` octets whose tail holds a whole second SMTP transaction for INJECTED."""
    filler = b"".join(b"filler line %07d ..........................................\r\n" % i for i in range(size // 60))
    hidden = (
        f"RSET\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<{INJECTED}>\r\nDATA\r\nSubject: injected\r\n\r\nsmuggled\r\n"
    ).encode()
    return b"From: a@example.org\r\nSubject: big\r\n\r\n" + filler + hidden


def test_a_full_spool_in_the_middle_of_data_is_452_and_the_body_is_never_read_as_commands(
    tmp_path: Path, small_disk: Path
) -> None:
    spool = small_disk / "spool"
    spool.mkdir()
    filler = small_disk / "filler"

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                replies = [w.command(b"EHLO client.test")]
                # the disk fills up while the mail is being received: its first 2 MB fit in memory, the rest
                # must go to the spool, which has no room
                filler.write_bytes(b"\0" * (1024 * 1024 - 16 * 1024))
                replies += [w.command(b"MAIL FROM:<a@example.org>"), w.command(f"RCPT TO:<{RCPT}>".encode())]
                replies.append(w.command(b"DATA"))
                w.send(smuggling_body(3 * 1024 * 1024) + b".\r\n")
                replies.append(w.reply())
                replies.append(w.command(b"NOOP"))
                # room again: the same session goes on normally
                filler.unlink()
                replies += [w.command(b"MAIL FROM:<a@example.org>"), w.command(f"RCPT TO:<{RCPT}>".encode())]
                replies.append(w.command(b"DATA"))
                replies.append(w.command(b"Subject: after\r\n\r\nfine\r\n."))
                replies.append(w.command(b"QUIT"))
                return replies

        replies = await asyncio.to_thread(session)
        assert replies[4].startswith(b"452 4.3.1 "), replies
        assert replies[5].startswith(b"250 2.0.0"), replies  # NOOP: the session is in step
        assert replies[9].startswith(b"250 2.0.0 queued as"), replies
        assert replies[10].startswith(b"221"), replies
        jobs = await bridge.store.list()
        assert [j.recipient.e164 for j in jobs] == ["+12015554567"]  # the later mail only; nothing injected
        assert not any(spool.iterdir())  # the partial spool file was removed

    run_bridge(tmp_path, body, spool_dir=str(spool))


@pytest.mark.parametrize("bad", [b"\x00", b"\r", b"\x7f", b"\x1b", b"\t"])
def test_control_characters_in_envelope_addresses_are_refused(tmp_path: Path, bad: bytes) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                replies = [w.command(b"MAIL FROM:<pro" + bad + b"be@example.org>")]
                replies.append(w.command(b"MAIL FROM:<probe@example.org>"))
                replies.append(w.command(b"RCPT TO:<1201555" + bad + b"4567@" + DOMAIN.encode() + b">"))
                replies.append(w.command(b"RCPT TO:<12015554567@" + DOMAIN.encode() + b" NOTIFY=" + bad + b">"))
                replies.append(w.command(b"RSET"))
                return replies

        replies = await asyncio.to_thread(session)
        assert replies[0].startswith(b"501 5.1.7 "), replies
        assert replies[1].startswith(b"250 2.1.0"), replies
        assert replies[2].startswith(b"501 5.1.3 "), replies
        assert replies[3].startswith(b"501 5.1.3 "), replies
        assert await bridge.store.list() == []

    run_bridge(tmp_path, body)


def test_commands_pipelined_after_the_end_of_data_are_answered(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.send(f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
                replies = [w.reply(), w.reply(), w.reply()]
                # RFC 2920: the end of data, a second transaction and QUIT in one write
                second = f"MAIL FROM:<b@example.org>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n"
                w.send(f"Subject: one\r\n\r\nhello\r\n.\r\n{second}".encode())
                replies += [w.reply(), w.reply(), w.reply(), w.reply()]
                w.send(b"Subject: two\r\n\r\nhello again\r\n.\r\nQUIT\r\n")
                replies += [w.reply(), w.reply()]
                return replies

        replies = await asyncio.to_thread(session)
        codes = [r[:3] for r in replies]
        assert codes == [b"250", b"250", b"354", b"250", b"250", b"250", b"354", b"250", b"221"], replies
        assert len(await bridge.store.list()) == 2

    run_bridge(tmp_path, body)


@pytest.mark.parametrize(
    ("local", "reply"),
    [
        ("1-800-FLOWERS", b"550 5.1.1"),
        ("555abc1234", b"550 5.1.1"),
        ("1555FLOWERS", b"550 5.1.1"),
        ("2015554567x999", b"550 5.1.1"),
        ("2015554567ext999", b"550 5.1.1"),
        ("1234567", b"550 5.1.1"),
        ("555-0100", b"550 5.1.1"),
        ("15551234567", b"550 5.1.1"),  # area code 555 is not assigned
        ("(900)5550100", b"501 5.1.3"),  # a comment in the path
        ("19005550100", b"550 5.7.1"),  # premium rate
        ("+449091234567", b"550 5.7.1"),
        ("+979123456789", b"550 5.7.1"),
    ],
)
def test_numbers_that_are_not_numbers_are_refused(tmp_path: Path, local: str, reply: bytes) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        def session() -> bytes:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.command(b"MAIL FROM:<a@example.org>")
                return w.command(f"RCPT TO:<{local}@{DOMAIN}>".encode())

        got = await asyncio.to_thread(session)
        assert got.startswith(reply), got

    run_bridge(tmp_path, body)


def test_a_domain_with_an_empty_label_is_not_ours(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.command(b"MAIL FROM:<a@example.org>")
                return [
                    w.command(f"RCPT TO:<12015554567@{DOMAIN}..>".encode()),
                    w.command(f"RCPT TO:<{RCPT}.>".encode()),
                ]

        refused, root_dot = await asyncio.to_thread(session)
        assert refused.startswith(b"550 5.7.1"), refused
        assert root_dot.startswith(b"250 2.1.5"), root_dot

    run_bridge(tmp_path, body)


def test_the_null_sender_may_send_and_a_second_mail_command_is_nested(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                return [
                    w.command(b"MAIL FROM:<>"),
                    w.command(b"MAIL FROM:<b@example.org>"),
                    w.command(f"RCPT TO:<{RCPT}>".encode()),
                    w.command(b"DATA"),
                    w.command(b"Subject: from nobody\r\n\r\nhi\r\n."),
                ]

        replies = await asyncio.to_thread(session)
        assert [r[:3] for r in replies] == [b"250", b"503", b"250", b"354", b"250"], replies
        [job] = await bridge.store.list()
        assert (await bridge.store.message(job.message_id)).mail_from == ""

    run_bridge(tmp_path, body)


def test_undeclared_8bit_data_is_accepted_and_read_as_its_charset_says(tmp_path: Path) -> None:
    text = "Température: 21 °C, porte fermée"

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> bytes:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.command(b"MAIL FROM:<a@example.org>")  # no BODY=8BITMIME
                w.command(f"RCPT TO:<{RCPT}>".encode())
                w.command(b"DATA")
                mail = (
                    "Subject: capteur\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n" + text + "\r\n."
                ).encode()
                return w.command(mail)

        assert (await asyncio.to_thread(session)).startswith(b"250 2.0.0 queued as")
        [job] = await bridge.store.list()
        pdu = decode_pdu((await bridge.store.message(job.message_id)).mms)
        assert isinstance(pdu, SendReq)
        texts = [bytes(p.data).decode("utf-8") for p in pdu.parts if p.content_type.media_type == "text/plain"]
        assert any(text in t for t in texts), texts

    run_bridge(tmp_path, body)


def test_every_reply_to_garbage_is_a_reply_with_an_enhanced_code(tmp_path: Path) -> None:
    lines = [
        b"MAIL FROM:<a@example.org> BODY=" + b"A" * 600,
        b"RCPT TO:<" + b"1" * 5000 + b"@" + DOMAIN.encode() + b">",
        b"MAIL FROM:<a@example.org> SIZE=99999999999999999999999",
        b"RCPT TO:<@evil.example:12015554567@" + DOMAIN.encode() + b">",
        b"RCPT TO:<12015554567%evil.example@" + DOMAIN.encode() + b">",
        b"AUTH PLAIN AGJvYgBzZWNyZXQ=",
        b"STARTTLS",
        b"DATA",
        b"BDAT 10 LAST",
        b"\xff\xfe\x00",
        b"RSET",
    ]

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                return [w.command(line) for line in lines] + [w.command(b"QUIT")]

        replies = await asyncio.to_thread(session)
        for line, reply in zip(lines, replies, strict=False):
            assert FINAL_WITH_ENHANCED.match(reply), (line[:60], reply)
        assert replies[-1].startswith(b"221")

    run_bridge(tmp_path, body)


def test_the_spool_file_of_a_mail_cut_off_mid_data_is_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> None:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.command(b"MAIL FROM:<a@example.org>")
                w.command(f"RCPT TO:<{RCPT}>".encode())
                w.command(b"DATA")
                w.send(b"Subject: cut\r\n\r\n" + b"x" * 70 + b"\r\n" * (3 * 1024 * 1024 // 72))

        await asyncio.to_thread(session)
        for _ in range(100):
            if not spool.exists() or not any(spool.iterdir()):
                break
            await asyncio.sleep(0.05)
        assert not spool.exists() or not list(spool.iterdir())
        assert await bridge.store.list() == []

    run_bridge(tmp_path, body)
    assert os.path.isdir(tmp_path)


@pytest.mark.parametrize(
    "end",
    [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"],
    ids=["lf-dot-lf", "crlf-dot-lf", "lf-dot-crlf", "cr-dot-crlf", "crlf-dot-cr", "nul-before-dot", "nul-after"],
)
def test_no_smuggling_through_an_end_of_data_that_is_not_crlf_dot_crlf(tmp_path: Path, end: bytes) -> None:
    hidden = f"MAIL FROM:<evil@example.org>\r\nRCPT TO:<{INJECTED}>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n"

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> list[bytes]:
            with Wire(port) as w:
                w.command(b"EHLO client.test")
                w.command(b"MAIL FROM:<a@example.org>")
                w.command(f"RCPT TO:<{RCPT}>".encode())
                w.command(b"DATA")
                w.send(b"Subject: outer\r\n\r\nhello" + end + hidden.encode() + b".\r\n")
                return [w.reply(), w.command(b"NOOP")]

        replies = await asyncio.to_thread(session)
        assert replies[0][:3] in (b"250", b"500", b"554"), replies  # one answer for the whole of it
        assert replies[1].startswith(b"250 2.0.0"), replies
        assert all(j.recipient.e164 == "+12015554567" for j in await bridge.store.list())

    run_bridge(tmp_path, body)

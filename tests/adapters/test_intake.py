"""SMTP intake driven by real clients (aiosmtplib, swaks) on 127.0.0.1 port 0: every reply code, the open-relay
suite, DATA framing, STARTTLS and AUTH."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib
import bcrypt
import pytest

from bridge.app import Bridge
from bridge.codec.mms import SendReq, decode_pdu
from bridge.errors import StoreError
from bridge.model import Notify
from tests.adapters.bridge_fixture import DOMAIN, both_stores, bridge_config, running
from tests.convert.helpers import mail, photo

SENDER = "camera@example.org"


def run_with(tmp: Path, body: Callable[[Bridge, int], Awaitable[None]], **smtp: object) -> None:
    async def go() -> None:
        async with running(bridge_config(tmp, **smtp)) as bridge:
            assert bridge.port is not None
            await body(bridge, bridge.port)

    asyncio.run(go())


async def client(port: int) -> aiosmtplib.SMTP:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
    await c.connect()
    await c.ehlo(hostname="client.test")
    return c


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_ehlo_advertises_the_extensions_and_no_auth_without_tls(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        for ext in ("size", "8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes", "dsn"):
            assert c.supports_extension(ext), ext
        assert c.esmtp_extensions["size"] == str(26_214_400)
        assert not c.supports_extension("auth") and not c.supports_extension("starttls")
        await c.quit()

    run_with(tmp_path, body)


def test_a_photo_mail_is_queued_durably_and_delivered(tmp_path: Path) -> None:
    raw = mail("Motion at the door", attachments=[(photo(1600, 1200), "image/jpeg", "door.jpg")])

    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.mail(SENDER)
        await c.rcpt(f"12015554567@{DOMAIN}")
        code, message = await c.data(raw)
        assert code == 250 and message.startswith("2.0.0 queued as ")
        queue_id = message.split()[-1]
        await c.quit()
        jobs = await bridge.store.list()
        assert [j.id for j in jobs] == [f"{queue_id}-0"] and jobs[0].recipient.e164 == "+12015554567"
        stored = await bridge.store.message(queue_id)
        assert stored.raw.startswith(b"Authentication-Results: bridge.test; dkim=none")
        assert stored.raw.endswith(raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
        await wait_for(lambda: (tmp_path / "delivered" / f"{queue_id}-0.mms").exists())
        pdu = decode_pdu((tmp_path / "delivered" / f"{queue_id}-0.mms").read_bytes())
        assert isinstance(pdu, SendReq) and any(p.content_type.media_type == "image/jpeg" for p in pdu.parts)

    run_with(tmp_path, body)


def test_data_framing_dot_stuffing_and_chunk_borders(tmp_path: Path) -> None:
    # lines that start with dots, a line of 998 octets, and a body large enough to cross many read chunks
    # over SPOOL_AFTER (2 MiB), so that the spooled path is the one read back
    lines = [b"." * (i % 5) + b"line %d" % i for i in range(220_000)] + [b"x" * 998, b".", b"..", b"end"]
    body_text = b"\r\n".join(lines) + b"\r\n"
    raw = b"From: a@example.org\r\nSubject: dots\r\n\r\n" + body_text

    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.sendmail(SENDER, [f"12015554567@{DOMAIN}"], raw)
        await c.quit()
        [job] = await bridge.store.list()
        stored = await bridge.store.message(job.message_id)
        assert stored.raw.split(b"\r\n", 1)[1] == raw

    run_with(tmp_path, body)


@pytest.mark.parametrize(
    "address",
    [
        f"+12015554567@{DOMAIN}",
        f"12015554567@{DOMAIN}",
        f"2015554567@{DOMAIN}",
        f'"+1 201 555 4567"@{DOMAIN}',
        f'"(201) 555-4567"@{DOMAIN}',
        f"12015554567@{DOMAIN.upper()}",
    ],
)
def test_recipient_forms_normalise_to_e164(tmp_path: Path, address: str) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.mail(SENDER)
        code, _ = await c.rcpt(address)
        assert code == 250
        await c.data(mail("hi"))
        await c.quit()
        [job] = await bridge.store.list()
        assert job.recipient.e164 == "+12015554567" and job.rcpt_to == address

    run_with(tmp_path, body)


RELAY_ATTEMPTS = [
    "12015554567@example.com",
    f"12015554567@{DOMAIN}.evil.example",
    f"user%example.com@{DOMAIN}",
    f"example.com!user@{DOMAIN}",
    f"@{DOMAIN}:user@example.com",
    f'"user@example.com"@{DOMAIN}',
    "12015554567@[127.0.0.1]",
    "postmaster@example.com",
]


def test_open_relay_suite_nothing_for_a_foreign_domain_is_ever_accepted(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.mail(SENDER)
        for address in RELAY_ATTEMPTS:
            code, message = await c.execute_command(f"RCPT TO:<{address}>".encode())
            assert code in (550, 553, 501), (address, code, message)
            if code == 550:
                assert message.startswith("5.7.1") or message.startswith("5.1."), (address, message)
        await c.quit()
        assert await bridge.store.list() == []

    run_with(tmp_path, body)


def test_refusals_at_rcpt_and_data_name_the_problem(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.mail(SENDER)
        code, message = await c.execute_command(f"RCPT TO:<12@{DOMAIN}>".encode())
        assert (code, message[:5]) == (550, "5.1.1")
        await c.rcpt(f"12015554567@{DOMAIN}")
        await c.rcpt(f"12015554568@{DOMAIN}")
        code, message = await c.execute_command(f"RCPT TO:<12015554569@{DOMAIN}>".encode())
        assert (code, message[:5]) == (452, "4.5.3")
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            # a clip nothing can read and nothing else in the mail: 5.6.1, media not supported
            await c.data(mail(None, subject="", attachments=[(b"RIFF....AVI LIST", "video/x-msvideo", "clip.avi")]))
        assert info.value.code == 554 and info.value.message.startswith("5.6.1")  # nothing else to send
        await c.rset()
        code, message = await c.execute_command(f"MAIL FROM:<{SENDER}> SIZE=99999999".encode())
        assert code == 552
        await c.rset()
        await c.mail(SENDER)
        await c.rcpt(f"12015554567@{DOMAIN}")
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await c.data(b"Subject: big\r\n\r\n" + (b"x" * 900 + b"\r\n") * 30)
        assert (info.value.code, info.value.message[:5]) == (552, "5.3.4")
        await c.quit()
        assert await bridge.store.list() == []

    run_with(tmp_path, body, max_message_bytes=20_000, max_recipients=2)


def test_rate_limit_per_sender(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        for _ in range(2):
            await c.sendmail(SENDER, [f"12015554567@{DOMAIN}"], mail("hi"))
        code, message = await c.execute_command(f"MAIL FROM:<{SENDER}>".encode())
        assert (code, message[:5]) == (450, "4.7.1")
        code, _ = await c.execute_command(b"MAIL FROM:<other@example.org>")
        assert code == 250
        await c.quit()

    run_with(tmp_path, body, rate_limit_per_minute=2)


def test_allow_list_of_senders(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        code, message = await c.execute_command(b"MAIL FROM:<intruder@example.com>")
        assert (code, message[:5]) == (550, "5.7.1")
        for ok in ("camera@example.org", "nvr@cams.example"):
            await c.rset()
            assert (await c.execute_command(f"MAIL FROM:<{ok}>".encode()))[0] == 250
        await c.quit()

    run_with(tmp_path, body, allowed_senders=("camera@example.org", "@cams.example"))


def test_store_failure_is_451_and_nothing_is_claimed(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        async def broken(*args: object, **kw: object) -> None:
            raise StoreError("disk full")

        bridge.store.put = broken  # type: ignore[method-assign]
        c = await client(port)
        await c.mail(SENDER)
        await c.rcpt(f"12015554567@{DOMAIN}")
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await c.data(mail("hi"))
        assert (info.value.code, info.value.message[:5]) == (451, "4.3.0")
        await c.quit()

    run_with(tmp_path, body)


def test_dsn_parameters_are_kept(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        await c.mail(SENDER, options=["RET=FULL", "ENVID=QQ314159"])
        await c.rcpt(f"12015554567@{DOMAIN}", options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;+2Bx@example.org"])
        await c.rcpt(f"12015554568@{DOMAIN}", options=["NOTIFY=NEVER"])
        code, _ = await c.execute_command(f"RCPT TO:<12015554569@{DOMAIN}> NOTIFY=NEVER,SUCCESS".encode())
        assert code == 501
        await c.data(mail("hi"))
        await c.quit()
        first, second = sorted(await bridge.store.list(), key=lambda j: j.id)
        assert first.notify == {Notify.SUCCESS, Notify.DELAY} and first.original_recipient == "rfc822;+x@example.org"
        assert second.notify == {Notify.NEVER}
        stored = await bridge.store.message(first.message_id)
        assert stored.envid == "QQ314159" and stored.ret_full

    run_with(tmp_path, body)


def test_shutdown_answers_421_to_new_transactions(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        bridge.handler.shutting_down = True
        code, message = await c.execute_command(f"MAIL FROM:<{SENDER}>".encode())
        assert (code, message[:5]) == (421, "4.3.2")
        bridge.handler.shutting_down = False

    run_with(tmp_path, body)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=bridge.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_then_auth_and_never_auth_before_tls(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    users = tmp_path / "users"
    users.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode() + "\n")

    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        assert c.supports_extension("starttls") and not c.supports_extension("auth")
        code, _ = await c.execute_command(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==")
        assert code >= 500  # refused in the clear
        code, message = await c.execute_command(f"MAIL FROM:<{SENDER}>".encode())
        assert (code, message[:5]) == (530, "5.7.0")
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        await c.starttls(tls_context=ctx)
        await c.ehlo(hostname="client.test")
        assert "PLAIN" in c.esmtp_extensions["auth"] and "LOGIN" in c.esmtp_extensions["auth"]
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await c.login("alice", "wrong")
        await c.login("alice", "s3cret")
        await c.sendmail(SENDER, [f"12015554567@{DOMAIN}"], mail("over TLS"))
        await c.quit()
        assert len(await bridge.store.list()) == 1

    run_with(
        tmp_path,
        body,
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        users_file=str(users),
        require_auth=True,
    )


def test_swaks_sends_a_photo_mail(tmp_path: Path) -> None:
    swaks = shutil.which("swaks")
    assert swaks, "swaks is not installed: the README's test command installs it (apt-get install swaks)"
    picture = tmp_path / "door.jpg"
    picture.write_bytes(photo(800, 600))

    async def body(bridge: Bridge, port: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            swaks, "--server", "127.0.0.1", "--port", str(port), "--from", SENDER,
            "--to", f"12015554567@{DOMAIN}", "--header", "Subject: swaks test", "--body", "Front door",
            "--attach-type", "image/jpeg", "--attach", f"@{picture}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        assert b"250 2.0.0 queued as" in out
        await wait_for(lambda: any((tmp_path / "delivered").glob("*.mms")))
        [job] = await bridge.store.list()
        assert job.recipient.e164 == "+12015554567"

    run_with(tmp_path, body)


def test_lmtp_mode_answers_lhlo_and_once_per_recipient_after_data(tmp_path: Path) -> None:
    import smtplib
    import socket

    def lines(sock: socket.socket, count: int) -> list[bytes]:
        data = b""
        while data.count(b"\r\n") < count:
            data += sock.recv(4096)
        return data.split(b"\r\n")[:count]

    async def body(bridge: Bridge, port: int) -> None:
        def with_smtplib() -> dict[str, tuple[int, bytes]]:
            with smtplib.LMTP("127.0.0.1", port) as lmtp:
                assert lmtp.docmd("HELO", "client.test")[0] == 500  # LMTP has no HELO/EHLO
                lmtp.ehlo("client.test")  # smtplib's LMTP sends LHLO
                assert lmtp.has_extn("enhancedstatuscodes") and lmtp.has_extn("dsn")
                return lmtp.sendmail(SENDER, [f"12015554567@{DOMAIN}"], mail("lmtp"))

        def two_recipients() -> list[bytes]:
            # smtplib reads one reply after DATA; LMTP gives one per recipient, so this client reads them
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                script = (
                    f"LHLO client.test\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<12015554567@{DOMAIN}>\r\n"
                    f"RCPT TO:<12015554568@{DOMAIN}>\r\nDATA\r\n"
                ).encode()
                sock.sendall(script)
                head = b""
                while b"354 " not in head:
                    head += sock.recv(4096)
                sock.sendall(b"Subject: two\r\n\r\nhello\r\n.\r\n")
                return lines(sock, 2)

        assert await asyncio.to_thread(with_smtplib) == {}
        replies = await asyncio.to_thread(two_recipients)
        assert all(r.startswith(b"250 2.0.0 queued as") for r in replies) and len(replies) == 2
        assert len(await bridge.store.list()) == 3

    run_with(tmp_path, body, lmtp=True)


def test_every_final_reply_carries_an_enhanced_status_code(tmp_path: Path) -> None:
    async def body(bridge: Bridge, port: int) -> None:
        c = await client(port)
        for command in (b"NOOP", b"RSET", b"VRFY someone", b"BOGUS", b"MAIL FROM:<>", b"RCPT TO:<>", b"DATA x"):
            code, message = await c.execute_command(command)
            assert message[:1] in "245" and message[1] == "." and message.split(" ")[0].count(".") == 2, (
                command,
                code,
                message,
            )
        await c.quit()

    run_with(tmp_path, body)


def test_an_idle_client_is_disconnected_and_each_command_restarts_the_clock(tmp_path: Path) -> None:
    import socket

    async def body(bridge: Bridge, port: int) -> None:
        def session() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.recv(4096)  # the greeting
                for _ in range(4):  # 4 x 0.25 s of chatting outlasts the 0.6 s idle timeout without tripping it
                    time.sleep(0.25)
                    sock.sendall(b"NOOP\r\n")
                    assert sock.recv(4096).startswith(b"250")
                alive = b"ok"
                time.sleep(1.2)  # now silent for twice the timeout
                return alive, sock.recv(4096)

        alive, after = await asyncio.to_thread(session)
        assert alive == b"ok" and after == b""  # the server closed the connection

    run_with(tmp_path, body, idle_timeout_s=0.6)


@pytest.mark.usefixtures(both_stores.__name__)
def test_a_mail_the_client_sends_again_is_answered_250_and_queued_once(tmp_path: Path) -> None:
    """A client whose connection dropped after DATA (its 250 lost) sends the mail again: the same Message-ID from
    the same sender to the same number within `smtp.duplicate_window_s` is not queued twice."""

    async def send(port: int, raw: bytes, *numbers: str) -> str:
        c = await client(port)
        await c.mail(SENDER)
        for number in numbers:
            await c.rcpt(f"{number}@{DOMAIN}")
        code, message = await c.data(raw)
        await c.quit()
        assert code == 250, message
        return message

    async def body(bridge: Bridge, port: int) -> None:
        raw = mail("Door", subject="Motion")  # Message-ID <snap-1@example.org>
        first = await send(port, raw, "12015554567")
        assert first.startswith("2.0.0 queued as ")
        job = first.split()[-1] + "-0"
        assert await send(port, raw, "12015554567") == f"2.0.0 already queued as {job}"
        # one more recipient: it alone is queued
        third = await send(port, raw, "12015554567", "12015554568")
        assert third.startswith("2.0.0 queued as ")
        assert len(await bridge.store.list()) == 2
        # another Message-ID is another mail
        await send(port, raw.replace(b"<snap-1@example.org>", b"<snap-2@example.org>"), "12015554567")
        assert len(await bridge.store.list()) == 3

    run_with(tmp_path, body, duplicate_window_s=86_400)
    # off: every submission is queued
    off = tmp_path / "off"
    off.mkdir()

    async def twice(bridge: Bridge, port: int) -> None:
        raw = mail("Door", subject="Motion")
        await send(port, raw, "12015554567")
        assert (await send(port, raw, "12015554567")).startswith("2.0.0 queued as ")
        assert len(await bridge.store.list()) == 2

    run_with(off, twice, duplicate_window_s=0)

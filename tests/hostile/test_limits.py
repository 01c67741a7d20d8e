"""Floods and slow clients (issue: hardening): connection caps in all and per address, the DATA held in memory
across connections, the open-file limit, the web side's header and body timeouts and its 413, and AUTH that
neither blocks the loop, nor tells users apart, nor lets a guesser go on at full speed."""

from __future__ import annotations

import asyncio
import resource
import socket
import ssl
import threading
import time
from pathlib import Path

import aiosmtplib
import bcrypt
import pytest

from bridge.adapters.smtp import auth
from bridge.adapters.smtp.auth import PasswordChecker
from bridge.app import Bridge
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, builtin_config, running
from tests.adapters.test_intake import certificate  # noqa: F401 - the fixture
from tests.hostile.smtp_wire import Wire
from tests.serving import served


def run_bridge(tmp: Path, body: object, **smtp: object) -> None:
    async def go() -> None:
        async with running(bridge_config(tmp, **smtp)) as bridge:
            await body(bridge)  # type: ignore[operator]

    asyncio.run(go())


def test_connections_over_the_caps_get_421_and_the_rest_are_served(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        port = bridge.port

        def flood() -> tuple[list[bytes], bytes]:
            held = [Wire(port) for _ in range(4)]  # the per-address cap is 4
            try:
                extra = [Wire(port).greeting for _ in range(3)]
                for w in held:
                    assert w.greeting.startswith(b"220"), w.greeting
                return extra, held[0].command(b"NOOP")
            finally:
                for w in held:
                    w.close()

        extra, noop = await asyncio.to_thread(flood)
        assert all(g.startswith(b"421 4.7.0") for g in extra), extra
        assert noop.startswith(b"250")
        for _ in range(100):  # the slots come back when the connections close
            if bridge.smtp_limits.open == 0:
                break
            await asyncio.sleep(0.02)
        assert bridge.smtp_limits.open == 0 and bridge.smtp_limits.per_ip == {}
        assert (await asyncio.to_thread(lambda: Wire(port).greeting)).startswith(b"220")

    run_bridge(tmp_path, body, max_connections=10, max_connections_per_ip=4)


def test_unfinished_data_over_the_memory_bound_goes_to_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        port = bridge.port
        chunk = (b"x" * 998 + b"\r\n") * 1000  # 1 MB of a mail that never ends

        def hold() -> list[Wire]:
            wires = []
            for _ in range(8):
                w = Wire(port)
                w.command(b"EHLO t")
                w.command(b"MAIL FROM:<a@example.org>")
                w.command(f"RCPT TO:<12015554567@{DOMAIN}>".encode())
                w.command(b"DATA")
                w.send(b"Subject: big\r\n\r\n" + chunk)
                wires.append(w)
            return wires

        wires = await asyncio.to_thread(hold)
        try:
            for _ in range(200):
                spooled = sum(p.stat().st_size for p in spool.glob("*.eml")) if spool.exists() else 0
                if spooled >= 4 * len(chunk):
                    break
                await asyncio.sleep(0.05)
            # 8 MB arrived; at most 3 MB (the bound) may sit in memory, the rest is on disk
            assert bridge.smtp_limits.memory_bytes <= 3 * 1024 * 1024
            assert spooled >= 4 * len(chunk), spooled
        finally:
            for w in wires:
                w.close()
        for _ in range(100):
            if bridge.smtp_limits.memory_bytes == 0 and not list(spool.glob("*.eml")):
                break
            await asyncio.sleep(0.05)
        assert bridge.smtp_limits.memory_bytes == 0 and not list(spool.glob("*.eml"))

    run_bridge(tmp_path, body, max_memory_data_bytes=3 * 1024 * 1024)


def test_at_the_open_file_limit_the_bridge_refuses_and_logs_once(tmp_path: Path) -> None:
    """`bridge serve` under a hard limit of 160 descriptors: its connection cap is lowered to fit, a flood of
    300 connections is refused with 421 (or by the kernel), the log stays short and the bridge still serves."""
    config = "[smtp]\nport = 0\nmax_connections_per_ip = 1000\n[mmsc]\nport = 0\n"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))

    with served(tmp_path, config, preexec_fn=limit) as bridge:
        port = bridge.smtp_port
        socks, greetings = [], []
        for _ in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                break
            socks.append(s)
        for s in socks:
            try:
                greetings.append(s.recv(100))
            except OSError:
                greetings.append(b"")
        for s in socks:
            s.close()
        assert sum(g.startswith(b"220") for g in greetings) < 160
        assert any(g.startswith(b"421 4.7.0") for g in greetings)
        time.sleep(0.5)
        with Wire(port) as w:
            assert w.greeting.startswith(b"220")
            assert w.command(b"QUIT").startswith(b"221")
    assert bridge.process.returncode == 0, bridge.log
    assert "open-file limit" in bridge.log and len(bridge.log.splitlines()) < 20, bridge.log


def test_the_web_side_closes_slow_headers_and_refuses_huge_bodies_without_reading_them(tmp_path: Path) -> None:
    async def body(bridge: Bridge) -> None:
        port = bridge.http_port
        assert port

        def slow_headers() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /m/abc HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
                return s.recv(100)  # b"" once the server closes it

        def huge_post() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.wap.mms-message\r\n")
                s.sendall(b"Content-Length: 1000000000\r\n\r\n" + b"\0" * 1000)
                head = s.recv(4096)
                rest = b""
                while chunk := s.recv(4096):
                    rest += chunk
                return head, rest

        def slow_body() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.wap.mms-message\r\n")
                s.sendall(b"Content-Length: 100\r\n\r\nabc")
                return s.recv(4096)

        started = time.monotonic()
        assert await asyncio.to_thread(slow_headers) == b""
        assert time.monotonic() - started < 8  # closed by the 1 s header timeout, not the 10 s socket timeout
        head, _ = await asyncio.to_thread(huge_post)
        assert head.startswith(b"HTTP/1.1 413"), head  # answered, then closed (the recv loop ended)
        assert (await asyncio.to_thread(slow_body)).startswith(b"HTTP/1.1 408"), "body timeout"

    async def go() -> None:
        async with running(builtin_config(tmp_path, header_timeout_s=1.0, body_timeout_s=1.0)) as bridge:
            await body(bridge)

    asyncio.run(go())


def test_passwords_are_checked_off_the_loop_and_unknown_users_cost_a_bcrypt_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, bytes]] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append((threading.current_thread().name, password))
        return real(password, hashed)

    monkeypatch.setattr(auth.bcrypt, "checkpw", counting)
    users = {"alice": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))}

    async def go() -> None:
        checker = PasswordChecker(users, free_failures=2, delay_base_s=0.01, delay_max_s=0.04)
        assert await checker.check(b"alice", b"s3cret", "192.0.2.1")
        assert not await checker.check(b"mallory", b"s3cret", "192.0.2.1")  # unknown: a bcrypt all the same
        assert not await checker.check(b"alice", b"x" * 100, "192.0.2.1")  # over 72 octets: no error
        assert len(calls) == 3 and all(name.startswith("bcrypt") for name, _ in calls)
        assert len(calls[2][1]) == 72
        # two failures from this address: the third and later wait, doubling, up to the cap
        assert checker.delay_for("192.0.2.1", "bob") == 0.01
        assert not await checker.check(b"bob", b"x", "192.0.2.1")
        assert checker.delay_for("192.0.2.1", "bob") == 0.02
        for _ in range(4):
            await checker.check(b"bob", b"x", "192.0.2.9")
        assert checker.delay_for("198.51.100.7", "bob") == 0.04  # per user too, from any address
        assert checker.delay_for("198.51.100.7", "carol") == 0.0
        checker.close()

    asyncio.run(go())


def test_auth_over_smtp_answers_535_and_keeps_other_sessions_going(
    tmp_path: Path,
    certificate: tuple[Path, Path],  # noqa: F811 - the fixture
) -> None:
    cert, key = certificate
    users = tmp_path / "users"
    users.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=12)).decode() + "\n")

    async def body(bridge: Bridge) -> None:
        assert bridge.port is not None
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False

        async def attempt(user: str, password: str) -> tuple[int, str]:
            c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=60, start_tls=False)
            await c.connect()
            await c.ehlo(hostname="t")
            await c.starttls(tls_context=ctx)
            await c.ehlo(hostname="t")
            try:
                await c.auth_plain(user, password)  # one mechanism: login() would try the next one too
                return 235, ""
            except aiosmtplib.SMTPAuthenticationError as exc:
                return exc.code, exc.message
            finally:
                c.close()

        order: list[str] = []

        async def guess(n: int) -> None:
            code, message = await attempt(f"user{n}" if n % 2 else "alice", "wrong" * 20)
            assert (code, message[:5]) == (535, "5.7.8"), (code, message)
            order.append("auth")

        async def noop() -> None:
            await asyncio.sleep(0.05)
            c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=60, start_tls=False)
            await c.connect()
            assert (await c.noop())[0] == 250
            c.close()
            order.append("noop")

        await asyncio.gather(*(guess(n) for n in range(4)), noop())
        assert order.index("noop") < 3, order  # answered while the bcrypt checks were still running
        assert await attempt("alice", "s3cret") == (235, "")

    run_bridge(tmp_path, body, tls_cert_file=str(cert), tls_key_file=str(key), users_file=str(users), require_auth=True)

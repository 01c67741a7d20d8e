"""No mail lost: `bridge serve` as a subprocess takes 300 mails from several connections while it is killed with
SIGKILL at random moments and restarted; then it drains. Every mail that got 250 is delivered exactly once;
every mail that got no 250 is delivered at most once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import aiosmtplib

from bridge.codec.mms import decode_pdu

MAILS = 300
CONNECTIONS = 6
KILLS = 3
DOMAIN = "mms.example.net"
BRIDGE = Path(sys.executable).with_name("bridge")

CONFIG = """
[log]
level = "warning"
[smtp]
host = "127.0.0.1"
port = 0
hostname = "bridge.test"
domains = ["{domain}"]
spool_dir = "{tmp}/spool"
rate_limit_per_minute = 0
[store]
url = "sqlite:///{tmp}/bridge.db"
[delivery]
poll_s = 0.05
first_retry_s = 0.5
max_retry_s = 1.0
lease_s = 2.0
[route]
kind = "folder"
[route.folder]
folder = "{tmp}/delivered"
[reports]
outbox = "{tmp}/outbox"
"""


class Server:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.up = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(BRIDGE), "serve", "--config", str(self.config), stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
        assert "SMTP on 127.0.0.1:" in line, line
        self.port = int(line.split("127.0.0.1:")[1].split(",")[0])
        self.up.set()

    async def kill(self) -> None:
        self.up.clear()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def kill_quietly(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(self.proc.wait(), 60) == 0


def pending(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM jobs WHERE state IN ('queued', 'leased')").fetchone()[0])


def message(n: int) -> bytes:
    return (
        f"From: sender{n % 7}@example.org\r\nTo: 12015554567@{DOMAIN}\r\nSubject: mail-{n}\r\n"
        f"Message-ID: <{n}@example.org>\r\n\r\nThis is mail number {n}.\r\n"
    ).encode()


async def sender(server: Server, queue: asyncio.Queue[int], accepted: set[int], tried: set[int]) -> None:
    while True:
        try:
            n = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        await server.up.wait()
        tried.add(n)
        await asyncio.sleep(0.03)  # pace the senders, so that the kills land while mail is in flight
        try:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=10)
            await client.connect()
            errors, reply = await client.sendmail(f"sender{n % 7}@example.org", [f"12015554567@{DOMAIN}"], message(n))
            if not errors and reply.startswith("2.0.0 queued"):
                accepted.add(n)
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            pass  # no 250: this mail may be delivered at most once


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(CONFIG.format(tmp=tmp_path, domain=DOMAIN))
    seed = int(os.environ.get("MMS_BRIDGE_KILL_SEED") or int.from_bytes(os.urandom(4), "big"))
    print(f"kill -9 test seed: {seed} (MMS_BRIDGE_KILL_SEED={seed} replays the kill moments)")
    rnd = random.Random(seed)

    async def go() -> tuple[set[int], set[int]]:
        server = Server(config)
        try:
            await server.start()
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(MAILS):
                queue.put_nowait(n)
            accepted: set[int] = set()
            tried: set[int] = set()
            senders = [asyncio.create_task(sender(server, queue, accepted, tried)) for _ in range(CONNECTIONS)]
            kills = 0
            while kills < KILLS and not queue.empty():
                await asyncio.sleep(rnd.uniform(0.1, 0.4))
                await server.kill()
                kills += 1
                await server.start()
            await asyncio.gather(*senders)
            assert kills == KILLS, "the mails were all sent before the server could be killed three times"
            deadline = asyncio.get_running_loop().time() + 90
            while pending(tmp_path / "bridge.db"):  # let it drain: every job final
                assert asyncio.get_running_loop().time() < deadline, "the queue did not drain"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # and a little longer, so that a late duplicate would show
            await server.terminate()
            return accepted, tried
        finally:
            server.kill_quietly()  # a failed assertion must not leave a bridge running

    accepted, tried = asyncio.run(asyncio.wait_for(go(), 240))
    assert len(tried) == MAILS and len(accepted) > MAILS // 2
    subjects = Counter()
    for path in (tmp_path / "delivered").glob("*.mms"):
        pdu = decode_pdu(path.read_bytes())
        subjects[int(pdu.subject.removeprefix("mail-"))] += 1  # type: ignore[union-attr]
    lost = sorted(n for n in accepted if subjects[n] == 0)
    doubled = sorted(n for n, count in subjects.items() if count > 1)
    assert not lost, f"accepted with 250 but never delivered: {lost}"
    assert not doubled, f"delivered more than once: {doubled}"
    assert set(subjects) <= tried

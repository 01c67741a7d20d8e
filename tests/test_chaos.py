"""Three bridges, one PostgreSQL, and things going wrong (issue 13): three `bridge serve` processes on one database
(each its own SMTP and web ports), several hundred text and photo mails spread over them as MX records spread them
(a client that cannot reach one bridge, or gets a 4xx, tries another), `SIGKILL` of random instances at least
five times with restarts, and PostgreSQL itself stopped hard and restarted once. At the end every mail that got
`250` is delivered, no job was completed by two workers, no job is left leased or queued, and a mail a client sent
again (its 250 lost with a killed instance) was not queued twice.

The chaos is random: the seed is printed, and `MMS_BRIDGE_CHAOS_SEED` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib
import asyncpg

from tests.convert.helpers import mail, photo
from tests.pg import Cluster, cluster

BRIDGE = Path(sys.executable).with_name("bridge")
MAILS = 300
KILLS = 6
DOMAIN = "mms.example.net"


@dataclass
class Instance:
    """One `bridge serve`, restarted after each kill; its log (stderr) appended to one file over its lives."""

    n: int
    folder: Path
    url: str
    process: subprocess.Popen[str] | None = None
    port: int | None = None
    lives: int = 0

    @property
    def log(self) -> Path:
        return self.folder / f"bridge{self.n}.log"

    def config(self) -> Path:
        path = self.folder / f"bridge{self.n}.toml"
        shared = self.folder.parent
        path.write_text(
            f'[smtp]\nport = 0\nhostname = "bridge{self.n}.test"\ndomains = ["{DOMAIN}"]\n'
            f'spool_dir = "{self.folder}/spool"\nrate_limit_per_minute = 0\n'
            f'[store]\nurl = "{self.url}"\n'
            # a killed instance's leases run out quickly, so another takes its jobs over within the test
            "[delivery]\nlease_s = 4.0\npoll_s = 0.2\nfirst_retry_s = 0.5\nmax_retry_s = 2.0\n"
            f'[route]\nkind = "folder"\n[route.folder]\nfolder = "{shared}/delivered"\n'
            f'[mmsc]\nport = 0\n[reports]\noutbox = "{shared}/reports"\n'
        )
        return path

    def start(self) -> None:
        log = self.log.open("a")
        self.process = subprocess.Popen(
            [str(BRIDGE), "serve", "--config", str(self.config())],
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "SMTP on 127.0.0.1:" in line, (line, self.log.read_text()[-2000:])
        self.port = int(line.split("127.0.0.1:")[1].split(",")[0])
        self.lives += 1

    def kill(self) -> None:
        assert self.process is not None
        self.port = None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Load:
    """The mails to send and what each got."""

    rnd: random.Random
    instances: list[Instance]
    #: Message-ID -> queue id of the 250 it finally got
    accepted: dict[str, str] = field(default_factory=dict)
    #: Message-IDs sent again after a reply was lost (connection gone after DATA)
    resent: set[str] = field(default_factory=set)
    refusals: Counter[str] = field(default_factory=Counter)

    def raw(self, i: int) -> bytes:
        attachments = [(photo(320, 240, seed=i % 7), "image/jpeg", "cam.jpg")] if i % 4 == 0 else []
        data = mail(f"Alert number {i}", subject=f"chaos {i}", attachments=attachments)
        return data.replace(b"Message-ID: <snap-1@example.org>", f"Message-ID: <chaos-{i}@example.org>".encode())

    async def send(self, i: int) -> None:
        raw, message_id = self.raw(i), f"<chaos-{i}@example.org>"
        lost_reply = False
        for _ in range(400):
            live = [inst for inst in self.instances if inst.port is not None]
            if not live:
                await asyncio.sleep(0.1)
                continue
            port = self.rnd.choice(live).port
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=20, start_tls=False)
            stage = "connect"
            try:
                await client.connect()
                await client.mail("camera@example.org")
                await client.rcpt(f"12015554567@{DOMAIN}")
                stage = "data"
                code, reply = await client.data(raw)
            except aiosmtplib.SMTPResponseException as exc:
                self.refusals[f"{exc.code} {exc.message[:5]}"] += 1
                assert exc.code < 500, (i, exc.code, exc.message)  # a bridge in trouble defers, never refuses
                await asyncio.sleep(0.1)
                continue
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                # the instance died under us; past DATA, the 250 may have been lost: the client sends again
                lost_reply = lost_reply or stage == "data"
                await asyncio.sleep(0.05)
                continue
            finally:
                client.close()
            assert code == 250, (i, code, reply)
            if lost_reply:
                self.resent.add(message_id)
            self.accepted[message_id] = reply.split()[-1]
            return
        raise AssertionError(f"mail {i} never got a 250")


async def chaos(rnd: random.Random, instances: list[Instance], pg: Cluster, done: asyncio.Event) -> list[str]:
    """Kill a random instance (and restart it) KILLS times, and PostgreSQL once, while the load runs."""
    events: list[str] = []
    pg_restart_at = rnd.randrange(1, KILLS)
    for k in range(KILLS):
        await asyncio.sleep(rnd.uniform(0.5, 1.5))
        victim = rnd.choice(instances)
        await asyncio.to_thread(victim.kill)
        events.append(f"kill bridge{victim.n}")
        await asyncio.sleep(rnd.uniform(0.1, 0.8))
        await asyncio.to_thread(victim.start)
        if k == pg_restart_at:
            await asyncio.to_thread(pg.stop, "immediate")
            events.append("postgresql stopped")
            await asyncio.sleep(rnd.uniform(0.5, 1.5))
            await asyncio.to_thread(pg.start)
            events.append("postgresql started")
    done.set()
    return events


async def settled(url: str, timeout: float = 180) -> list[asyncpg.Record]:
    """The jobs, once none is queued or leased any more."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch("SELECT id, state, message_id, lease_owner FROM jobs")
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            rows = None
        if rows is not None and all(r["state"] in ("delivered", "failed", "expired") for r in rows):
            return list(rows)
        assert time.monotonic() < deadline, Counter(r["state"] for r in rows or [])
        await asyncio.sleep(0.3)


def test_three_bridges_on_one_postgresql_survive_kills_and_a_database_restart(tmp_path: Path) -> None:
    seed = int(os.environ.get("MMS_BRIDGE_CHAOS_SEED") or time.time_ns() % 1_000_000)
    print(f"chaos seed: {seed} (MMS_BRIDGE_CHAOS_SEED={seed} replays it)")
    rnd = random.Random(seed)
    with cluster() as pg:
        url = pg.create_database("chaos")
        instances = []
        for n in range(3):
            folder = tmp_path / f"i{n}"
            folder.mkdir()
            instances.append(Instance(n=n, folder=folder, url=url))
        try:
            for inst in instances:
                inst.start()
            load = Load(rnd=rnd, instances=instances)

            async def run() -> tuple[list[str], list[asyncpg.Record]]:
                done = asyncio.Event()
                chaos_task = asyncio.create_task(chaos(rnd, instances, pg, done))
                gate = asyncio.Semaphore(12)

                async def one(i: int) -> None:
                    # the mails arrive over about twelve seconds, while the instances and PostgreSQL fall over
                    await asyncio.sleep(i * 12 / MAILS)
                    async with gate:
                        await load.send(i)

                await asyncio.gather(*(one(i) for i in range(MAILS)))
                events = await chaos_task
                return events, await settled(url)

            events, jobs = asyncio.run(run())
        finally:
            for inst in instances:
                inst.stop()
    context = f"seed {seed}, events {events}, refusals {dict(load.refusals)}, sent again {len(load.resent)}"
    print(context)
    assert sum(e.startswith("kill") for e in events) >= 5 and "postgresql started" in events, context
    by_message = {r["message_id"]: r for r in jobs}
    # every mail that got 250 is delivered, once: one job per mail, however often the client had to send it
    assert len(load.accepted) == MAILS, context
    for message_id, queue_id in load.accepted.items():
        job = by_message.get(queue_id)
        assert job is not None and job["state"] == "delivered", (message_id, queue_id, job, context)
        assert (tmp_path / "delivered" / f"{job['id']}.mms").exists()
    assert len(jobs) == MAILS, (len(jobs), len(load.resent), context)
    assert all(r["lease_owner"] is None for r in jobs)
    # no job was completed by two workers: each "state=delivered" line is a committed transition
    logs = "".join(inst.log.read_text() for inst in instances)
    completed = Counter(re.findall(r"job=(\S+) state=delivered", logs))
    assert not [job for job, n in completed.items() if n > 1], context
    assert "Traceback" not in logs, context

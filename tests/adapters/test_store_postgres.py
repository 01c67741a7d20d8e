"""Several bridges, one PostgreSQL (issue 13): what only a shared store must do, on a real PostgreSQL — two
instances leasing at once never share a job; one instance's commit wakes the other's worker; instances starting
together migrate once; sweeping runs once; PostgreSQL away means StoreError (intake's 451) and coming back means
work goes on without a restart. The contract every store keeps is tests/adapters/test_store.py."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest

from bridge.adapters.store.postgres import SCHEMA_VERSION, PostgresJobStore
from bridge.errors import StoreError
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, running
from tests.adapters.test_store import jobs, message
from tests.convert.helpers import mail
from tests.pg import Cluster, cluster, database_for, database_name, free_port

BRIDGE = Path(sys.executable).with_name("bridge")


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_two_instances_leasing_at_once_never_take_the_same_job(tmp_path: Path) -> None:
    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        a, b = await PostgresJobStore.open(url), await PostgresJobStore.open(url)
        try:
            for i in range(100):
                await a.put(message(i), jobs(i, 3))
            taken: dict[str, list[str]] = {"a": [], "b": []}

            async def drain(name: str, store: PostgresJobStore) -> None:
                while leased := await store.lease(owner=name, now=2000, lease_s=60, limit=7):
                    taken[name] += [j.id for j in leased]

            await asyncio.gather(drain("a", a), drain("b", b), drain("a", a), drain("b", b))
            every = taken["a"] + taken["b"]
            assert len(every) == len(set(every)) == 300
            assert taken["a"] and taken["b"]  # both took part
            held = {j.id: j for j in await a.list(state=JobState.LEASED, limit=1000)}
            assert len(held) == 300
        finally:
            await a.close()
            await b.close()

    run(go())


def test_a_commit_on_one_instance_wakes_the_worker_of_another(tmp_path: Path) -> None:
    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        a, b = await PostgresJobStore.open(url), await PostgresJobStore.open(url)
        woken = asyncio.Event()
        try:
            await a.watch(woken.set)
            await asyncio.wait_for(woken.wait(), 10)  # it wakes once on listening: work committed before it
            woken.clear()
            await b.put(message(1), jobs(1))
            await asyncio.wait_for(woken.wait(), 10)
            woken.clear()
            [_, _] = await b.lease(owner="b", now=2000, lease_s=60, limit=10)
            assert not woken.is_set()  # a lease is no news for other workers
        finally:
            await a.close()
            await b.close()

    run(go())


def test_instances_starting_together_migrate_once(tmp_path: Path) -> None:
    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        stores = await asyncio.gather(*(PostgresJobStore.open(url) for _ in range(5)))
        try:
            conn = await asyncpg.connect(url)
            try:
                versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_version")]
            finally:
                await conn.close()
            assert versions == list(range(1, SCHEMA_VERSION + 1))
            assert (await stores[0].status())["schema_version"] == SCHEMA_VERSION
        finally:
            for store in stores:
                await store.close()

    run(go())


def test_sweeping_runs_once_for_all_instances(tmp_path: Path) -> None:
    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        a, b = await PostgresJobStore.open(url), await PostgresJobStore.open(url)
        try:
            for i in range(20):
                await a.put(message(i), jobs(i, 1))
            for job in await a.lease(owner="a", now=2000, lease_s=60, limit=100):
                await a.record(_delivered(job.id))
            swept = await asyncio.gather(a.sweep(before=10_000), b.sweep(before=10_000))
            assert sum(swept) == 20
            assert (await a.message("m3")).mms == b""
        finally:
            await a.close()
            await b.close()

    run(go())


def _delivered(job_id: str):  # type: ignore[no-untyped-def]
    from bridge.adapters.store.base import Transition

    return Transition(job_id=job_id, owner="a", to=JobState.DELIVERED, now=3000, mmsc_id="x")


def test_postgresql_away_is_a_store_error_and_its_return_needs_no_restart(tmp_path: Path) -> None:
    async def go(own: Cluster) -> None:
        nowhere = f"postgresql://bridge@127.0.0.1:{free_port()}/postgres"
        with pytest.raises(StoreError, match=r"postgresql store postgresql://bridge@127\.0\.0\.1"):
            await PostgresJobStore.open(nowhere, connect_attempts=2)
        store = await PostgresJobStore.open(own.url())
        try:
            await store.put(message(1), jobs(1))
            await asyncio.to_thread(own.stop, "immediate")
            with pytest.raises(StoreError):
                await store.put(message(2), jobs(2))
            with pytest.raises(StoreError):
                await store.lease(owner="w", now=2000, lease_s=60, limit=10)
            await asyncio.to_thread(own.start)
            for _ in range(50):  # the pool finds its connections dead and makes new ones
                try:
                    await store.put(message(2), jobs(2))
                    break
                except StoreError:
                    await asyncio.sleep(0.1)
            assert len(await store.lease(owner="w", now=2000, lease_s=60, limit=10)) == 4
        finally:
            await store.close()

    with cluster() as own:
        run(go(own))


def test_intake_answers_451_while_postgresql_is_away_and_delivers_when_it_is_back(tmp_path: Path) -> None:
    async def go(own: Cluster) -> None:
        import dataclasses

        from bridge.config import StoreConfig

        config = dataclasses.replace(bridge_config(tmp_path), store=StoreConfig(url=own.url()))
        async with running(config) as bridge:
            assert bridge.port is not None
            raw = mail("Door", subject="Motion")
            await asyncio.to_thread(own.stop, "immediate")
            c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=60, start_tls=False)
            await c.connect()
            await c.mail("camera@example.org")
            await c.rcpt(f"12015554567@{DOMAIN}")
            with pytest.raises(aiosmtplib.SMTPDataError) as info:
                await c.data(raw)
            assert (info.value.code, info.value.message[:5]) == (451, "4.3.0")
            await asyncio.to_thread(own.start)
            for _ in range(100):
                await c.rset()
                await c.mail("camera@example.org")
                await c.rcpt(f"12015554567@{DOMAIN}")
                try:
                    code, _ = await c.data(raw)
                except aiosmtplib.SMTPDataError:
                    await asyncio.sleep(0.1)
                    continue
                break
            assert code == 250
            await c.quit()
            for _ in range(200):  # the worker waited the outage out and delivers
                done = await bridge.store.list(state=JobState.DELIVERED)
                if done:
                    break
                await asyncio.sleep(0.05)
            assert len(done) == 1 and len(list((tmp_path / "delivered").iterdir())) == 1

    with cluster() as own:
        run(go(own))


def test_bridge_db_status_shows_the_schema_and_the_jobs(tmp_path: Path) -> None:
    async def fill() -> str:
        url = await database_for(database_name(tmp_path))
        store = await PostgresJobStore.open(url)
        try:
            await store.put(message(1), jobs(1, 3))
        finally:
            await store.close()
        return url

    url = asyncio.run(fill())
    config = tmp_path / "bridge.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    done = subprocess.run([str(BRIDGE), "db", "status", "--config", str(config)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "store": "postgresql",
        "schema_version": SCHEMA_VERSION,
        "jobs": {"queued": 3},
        "oldest_due_at": 1000.0,
    }
    # bridge queue works on it as on SQLite
    done = subprocess.run([str(BRIDGE), "queue", "ls", "--config", str(config)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0 and sorted(line.split()[0] for line in done.stdout.splitlines()) == [
        "m1-0",
        "m1-1",
        "m1-2",
    ]
    # a bare postgresql:// reads the usual PG* variables
    config.write_text('[store]\nurl = "postgresql://"\n')
    host, port, database = url.removeprefix("postgresql://bridge@").replace("/", ":").split(":")
    env = {**os.environ, "PGHOST": host, "PGPORT": port, "PGUSER": "bridge", "PGDATABASE": database}
    done = subprocess.run([str(BRIDGE), "db", "status", "--config", str(config)], capture_output=True, text=True,
                          timeout=60, env=env)  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["jobs"] == {"queued": 3}, done.stderr
    config.write_text(f'[store]\nurl = "postgresql://bridge@127.0.0.1:{free_port()}/none"\n')
    done = subprocess.run([str(BRIDGE), "db", "status", "--config", str(config)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    # the retries are logged; the last line names the store and the reason
    last = done.stderr.splitlines()[-1]
    assert done.returncode == 1 and last.startswith("bridge db: postgresql store postgresql://bridge@"), done.stderr
    assert "Traceback" not in done.stderr


def test_instances_count_a_senders_mails_and_a_routes_pace_together(tmp_path: Path) -> None:
    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        a, b = await PostgresJobStore.open(url), await PostgresJobStore.open(url)
        try:
            counted = [
                await store.count_send("sender:x", limit=4, window_s=60, now=1000 + i)
                for i, store in enumerate([a, b, a, b, a, b])
            ]
            assert counted == [True, True, True, True, False, False]
            waits = await asyncio.gather(*(s.pace("route:r", interval_s=0.1) for s in [a, b] * 5))
            slots = sorted(waits)
            assert all(b - a > 0.05 for a, b in itertools.pairwise(slots)), slots
            assert slots[-1] > 0.75  # ten slots a tenth of a second apart, whichever instance took them
        finally:
            await a.close()
            await b.close()

    run(go())


def test_two_bridges_on_one_database_share_the_senders_rate_limit(tmp_path: Path) -> None:
    async def go() -> None:
        import dataclasses

        from bridge.config import StoreConfig

        url = await database_for(database_name(tmp_path))
        configs = []
        for n in (1, 2):
            (tmp_path / f"b{n}").mkdir()
            base = bridge_config(tmp_path / f"b{n}", rate_limit_per_minute=2)
            configs.append(dataclasses.replace(base, store=StoreConfig(url=url)))
        async with running(configs[0]) as one, running(configs[1]) as two:
            replies = []
            for bridge in (one, two, one, two):
                assert bridge.port is not None
                c = aiosmtplib.SMTP(hostname="127.0.0.1", port=bridge.port, timeout=30, start_tls=False)
                await c.connect()
                await c.ehlo()
                code, message = await c.execute_command(b"MAIL FROM:<camera@example.org>")
                replies.append((code, message[:5]))
                await c.quit()
            assert replies[:2] == [(250, "2.1.0")] * 2
            assert replies[2:] == [(450, "4.7.1")] * 2

    run(go())


def test_any_instance_serves_any_token_and_takes_any_phones_answer(tmp_path: Path) -> None:
    """The builtin MMSC on two bridges sharing one database: whichever notified the phone, the other serves the
    content and records the phone's answer."""
    import dataclasses

    import httpx

    from bridge.config import SmsConfig, StoreConfig
    from bridge.phone import Answer, Phone
    from tests.adapters.bridge_fixture import builtin_config

    async def go() -> None:
        url = await database_for(database_name(tmp_path))
        configs = []
        for n in (1, 2):
            (tmp_path / f"b{n}").mkdir()
            base = builtin_config(tmp_path / f"b{n}", sms=SmsConfig(outbox=str(tmp_path / "sms")))
            configs.append(dataclasses.replace(base, store=StoreConfig(url=url)))
        async with running(configs[0]) as one, running(configs[1]) as two:
            assert one.port is not None
            c = aiosmtplib.SMTP(hostname="127.0.0.1", port=one.port, timeout=30, start_tls=False)
            await c.connect()
            await c.sendmail("camera@example.org", [f"12015554567@{DOMAIN}"], mail("Door", subject="Motion"))
            await c.quit()
            for _ in range(200):
                [job] = await one.store.list()
                if job.state is JobState.NOTIFIED:
                    break
                await asyncio.sleep(0.05)
            assert job.state is JobState.NOTIFIED
            # the push names the instance whose worker sent it; the phone goes to the other one
            pushes = sorted((tmp_path / "sms").glob("*.ud"))
            notifier = one if f":{one.http_port}/" in pushes[0].read_bytes().decode("latin-1") else two
            other = two if notifier is one else one
            async with httpx.AsyncClient() as http:
                got = await http.get(f"http://127.0.0.1:{other.http_port}/m/{job.token}")
            assert got.status_code == 200 and got.headers["content-type"] == "application/vnd.wap.mms-message"
            phone = Phone(outbox=tmp_path / "sms", inbox=tmp_path / "phone", answer=Answer.ACKNOWLEDGE,
                          mmsc_url=f"http://127.0.0.1:{other.http_port}/m")  # fmt: skip
            [received] = await asyncio.to_thread(phone.poll)
            assert received.message is not None
            for _ in range(200):
                done = await other.store.get(job.id)
                if done is not None and done.state is JobState.DELIVERED:
                    break
                await asyncio.sleep(0.05)
            assert done is not None and done.state is JobState.DELIVERED and done.handset is not None

    run(go())

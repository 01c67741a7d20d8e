"""The JobStore contract, written against the Protocol so that every implementation runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from bridge.adapters.store.base import JobStore, NewJob
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.model import MSISDN, JobState, Notify, StoredMessage

T = TypeVar("T")
Opener = Callable[[Path], Awaitable[JobStore]]
STORES: dict[str, Opener] = {"sqlite": lambda tmp: SQLiteJobStore.open(tmp / "bridge.db")}


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@asynccontextmanager
async def opened(kind: str, tmp: Path) -> AsyncIterator[JobStore]:
    store = await STORES[kind](tmp)
    try:
        yield store
    finally:
        await store.close()


def message(i: int, now: float = 1000.0) -> StoredMessage:
    return StoredMessage(id=f"m{i}", mail_from="a@example.org", received_at=now, raw=b"raw", mms=b"mms")


def jobs(i: int, n: int = 2) -> list[NewJob]:
    return [
        NewJob(
            id=f"m{i}-{k}",
            recipient=MSISDN(e164=f"+1201555456{k}"),
            notify=frozenset({Notify.FAILURE}),
            rcpt_to=f"1201555456{k}@mms.example.net",
            original_recipient=None,
            expires_at=1000.0 + 86400,
        )
        for k in range(n)
    ]


@pytest.fixture(params=sorted(STORES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_put_then_lease_complete(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1))
            leased = await store.lease(owner="w1", now=1000, lease_s=30, limit=10)
            assert sorted(j.id for j in leased) == ["m1-0", "m1-1"]
            assert all(j.state is JobState.LEASED for j in leased)
            assert await store.lease(owner="w2", now=1001, lease_s=30, limit=10) == []
            await store.complete("m1-0", owner="w1", now=1002, mmsc_id="x1")
            done = await store.get("m1-0")
            assert done is not None and done.state is JobState.DELIVERED and done.mmsc_id == "x1"
            assert (await store.message("m1")).raw == b"raw"
            light = await store.message("m1", with_raw=False)
            assert light.raw == b"" and light.mms == (await store.message("m1")).mms and light.mail_from
            batch = await store.messages(["m1", "m1", "gone"])
            assert list(batch) == ["m1"] and batch["m1"] == light and await store.messages([]) == {}

    run(go())


def test_an_expired_lease_is_taken_over_and_the_old_owner_loses(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1, 1))
            [first] = await store.lease(owner="dead", now=1000, lease_s=30, limit=10)
            [again] = await store.lease(owner="w2", now=1031, lease_s=30, limit=10)
            assert again.id == first.id
            await store.complete(first.id, owner="dead", now=1032, mmsc_id="late")  # ignored
            assert (await store.get(first.id)).state is JobState.LEASED  # type: ignore[union-attr]
            await store.complete(first.id, owner="w2", now=1033, mmsc_id="ok")
            assert (await store.get(first.id)).mmsc_id == "ok"  # type: ignore[union-attr]

    run(go())


def test_retry_waits_until_its_time_and_counts_attempts(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1, 1))
            [job] = await store.lease(owner="w", now=1000, lease_s=30, limit=10)
            await store.retry(job.id, owner="w", now=1001, at=1100, status="4.4.1", error="busy", delay_notified=True)
            assert await store.lease(owner="w", now=1099, lease_s=30, limit=10) == []
            [again] = await store.lease(owner="w", now=1100, lease_s=30, limit=10)
            assert (again.attempts, again.last_status, again.delay_notified) == (1, "4.4.1", True)
            await store.fail(again.id, owner="w", now=1101, status="5.1.1", error="unknown")
            assert (await store.get(job.id)).state is JobState.FAILED  # type: ignore[union-attr]

    run(go())


def test_release_requeue_purge_and_list(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1))
            await store.lease(owner="w", now=1000, lease_s=30, limit=10)
            assert await store.release(owner="w") == 2
            assert len(await store.list(state=JobState.QUEUED)) == 2
            [job, _] = await store.lease(owner="w", now=1000, lease_s=30, limit=10)
            await store.expire(job.id, owner="w", now=1001, status="4.4.7", error="too late")
            assert not await store.requeue(job.id, now=1002)  # final jobs stay final
            assert await store.purge(job.id) and not await store.purge(job.id)
            assert [j.id for j in await store.list()] == ["m1-1"]

    run(go())


def test_many_puts_share_commits_and_all_survive(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await asyncio.gather(*(store.put(message(i), jobs(i)) for i in range(200)))
        async with opened(kind, tmp_path) as store:
            assert len(await store.list(limit=1000)) == 400

    run(go())


_KILL_SCRIPT = """
import asyncio, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.adapters.test_store import STORES, message, jobs
async def main():
    store = await STORES[sys.argv[3]](Path(sys.argv[1]))
    for i in range(50):
        await store.put(message(i), jobs(i))
        print(i, flush=True)
    os.kill(os.getpid(), 9)
asyncio.run(main())
"""


def test_what_put_returned_for_survives_kill_9(kind: str, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path), str(root), kind], capture_output=True, text=True
    )
    assert proc.returncode == -9
    acknowledged = len(proc.stdout.split())
    assert acknowledged == 50

    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            assert len(await store.list(limit=1000)) == 2 * acknowledged

    run(go())

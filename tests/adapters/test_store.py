"""The JobStore contract, written against the Protocols so that every implementation runs it: every method of
every role (intake, the worker's queue, the handset side, operators' commands) is exercised here; a second store
joins by adding its opener to STORES."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from bridge.adapters.store.base import Filter, JobStore, NewJob, Transition
from bridge.adapters.store.postgres import PostgresJobStore
from bridge.adapters.store.sqlite import SQLiteJobStore
from bridge.errors import StoreError
from bridge.model import MSISDN, ApiKey, Handset, JobState, Notify, StoredMessage
from tests.pg import database_for, database_name

T = TypeVar("T")
DELIVERED = JobState.DELIVERED
Opener = Callable[[Path], Awaitable[JobStore]]


async def _postgres(tmp: Path) -> JobStore:
    return await PostgresJobStore.open(await database_for(database_name(tmp)))


STORES: dict[str, Opener] = {"sqlite": lambda tmp: SQLiteJobStore.open(tmp / "bridge.db"), "postgresql": _postgres}


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
            await store.record(Transition(job_id="m1-0", owner="w1", to=DELIVERED, now=1002, mmsc_id="x1"))
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
            late = Transition(job_id=first.id, owner="dead", to=DELIVERED, now=1032, mmsc_id="late")
            assert await store.record(late) is False
            assert (await store.get(first.id)).state is JobState.LEASED  # type: ignore[union-attr]
            assert await store.record(Transition(job_id=first.id, owner="w2", to=DELIVERED, now=1033, mmsc_id="ok"))
            assert (await store.get(first.id)).mmsc_id == "ok"  # type: ignore[union-attr]

    run(go())


def test_retry_waits_until_its_time_and_counts_attempts(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1, 1))
            [job] = await store.lease(owner="w", now=1000, lease_s=30, limit=10)
            retry = Transition(
                job_id=job.id,
                owner="w",
                to=JobState.QUEUED,
                now=1001,
                at=1100,
                status="4.4.1",
                error="busy",
                delay_notified=True,
            )
            await store.record(retry)
            assert await store.lease(owner="w", now=1099, lease_s=30, limit=10) == []
            [again] = await store.lease(owner="w", now=1100, lease_s=30, limit=10)
            assert (again.attempts, again.last_status, again.delay_notified) == (1, "4.4.1", True)
            await store.record(
                Transition(job_id=again.id, owner="w", to=JobState.FAILED, now=1101, status="5.1.1", error="x")
            )
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
            await store.record(
                Transition(job_id=job.id, owner="w", to=JobState.EXPIRED, now=1001, status="4.4.7", error="late")
            )
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


def test_one_failing_write_in_a_shared_commit_fails_alone(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1))
            # written together: the second reuses a stored message's id and must fail, the others must not
            outcomes = await asyncio.gather(
                store.put(message(2), jobs(2)),
                store.put(message(1), jobs(3)),
                store.put(message(4), jobs(4)),
                return_exceptions=True,
            )
            assert outcomes[0] == {} and outcomes[2] == {}
            assert isinstance(outcomes[1], StoreError)
            assert sorted(j.id for j in await store.list()) == ["m1-0", "m1-1", "m2-0", "m2-1", "m4-0", "m4-1"]

    run(go())


def test_wait_then_the_phone_answers_by_token_and_mmsc_id(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            new = jobs(1)
            await store.put(message(1), new)
            leased = {j.id: j for j in await store.lease(owner="w", now=1000, lease_s=30, limit=10)}
            first, second = leased["m1-0"], leased["m1-1"]
            assert first.token == new[0].token and len(first.token) == 22
            for job, mmsc_id in ((first, "mm-1"), (second, "mm-2")):
                wait = Transition(
                    job_id=job.id,
                    owner="w",
                    to=JobState.NOTIFIED,
                    now=1001,
                    at=1600,
                    mmsc_id=mmsc_id,
                    route="op",
                    status="4.0.0",
                )
                await store.record(wait)
            notified = await store.by_token(first.token)
            assert notified is not None and (notified.state, notified.mmsc_id, notified.route) == (
                JobState.NOTIFIED,
                "mm-1",
                "op",
            )
            assert (notified.attempts, notified.next_attempt_at) == (1, 1600)
            assert await store.by_token("no-such-token") is None
            assert (await store.by_mmsc_id("op", "mm-2")).id == second.id  # type: ignore[union-attr]
            assert await store.by_mmsc_id("other-route", "mm-2") is None
            assert await store.lease(owner="w", now=1599, lease_s=30, limit=10) == []  # not due before its time
            # the phone fetched: retrieved, due at the ack wait; a later fetch does not undo an acknowledgement
            state = await store.handset(first.id, event=Handset.FETCHED, now=1100, at=1160, report_allowed=True)
            assert state is JobState.RETRIEVED
            state = await store.handset(first.id, event=Handset.ACKNOWLEDGED, now=1101, at=1101, report_allowed=False)
            assert state is JobState.RETRIEVED
            assert await store.handset(first.id, event=Handset.FETCHED, now=1102, at=1162, report_allowed=True) is None
            answered = await store.get(first.id)
            assert answered is not None and (answered.handset, answered.report_allowed) == (Handset.ACKNOWLEDGED, False)
            # a rejection leaves the job notified and due at once for the worker to decide
            state = await store.handset(second.id, event=Handset.REJECTED, now=1103, at=1103, report_allowed=True)
            assert state is JobState.NOTIFIED
            due = sorted(j.id for j in await store.lease(owner="w2", now=1103, lease_s=30, limit=10))
            assert due == ["m1-0", "m1-1"]
            # no answer for a final job
            await store.record(Transition(job_id=first.id, owner="w2", to=DELIVERED, now=1104, mmsc_id="mm-1"))
            assert await store.handset(first.id, event=Handset.FETCHED, now=1105, at=1105, report_allowed=True) is None

    run(go())


def test_sweep_empties_the_content_of_finished_messages_only(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1, 1))
            await store.put(message(2), jobs(2, 1))
            [a, b] = sorted(await store.lease(owner="w", now=1000, lease_s=30, limit=10), key=lambda j: j.id)
            await store.record(Transition(job_id=a.id, owner="w", to=DELIVERED, now=1010, mmsc_id="x"))
            assert await store.sweep(before=1005) == 0  # finished after the cut-off
            assert await store.sweep(before=1020) == 1
            swept = await store.message("m1")
            assert (swept.raw, swept.mms) == (b"", b"") and swept.mail_from == "a@example.org"
            assert (await store.message("m2")).mms == b"mms"  # its job is still leased
            assert (await store.get(a.id)).state is DELIVERED  # type: ignore[union-attr]  # the row stays
            assert await store.sweep(before=1020) == 0  # once
            assert b.id == "m2-0"

    run(go())


def test_a_transition_without_its_due_time_or_to_a_state_no_worker_records_is_refused() -> None:
    with pytest.raises(ValueError, match="due again"):
        Transition(job_id="j", owner="w", to=JobState.QUEUED, now=1)
    with pytest.raises(ValueError, match="records"):
        Transition(job_id="j", owner="w", to=JobState.LEASED, now=1)


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


def test_a_mail_sent_again_is_not_queued_twice_within_its_window(kind: str, tmp_path: Path) -> None:
    def keyed(i: int, key: str, after: float = 0.0) -> NewJob:
        return dataclasses.replace(jobs(i, 1)[0], dedup_key=key, dedup_after=after)

    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            assert await store.put(message(1), [keyed(1, "k1"), *jobs(1, 2)[1:]]) == {}
            # the client sent it again: the keyed job is there already, its message is not stored again
            assert await store.put(message(2), [keyed(2, "k1")]) == {"m2-0": "m1-0"}
            assert await store.messages(["m2"]) == {} and await store.get("m2-0") is None
            # two recipients, one of them new: only the new one is queued
            twice = [keyed(3, "k1"), dataclasses.replace(keyed(3, "k2"), id="m3-1")]
            assert await store.put(message(3), twice) == {"m3-0": "m1-0"}
            assert (await store.get("m3-1")) is not None and "m3" in await store.messages(["m3"])
            # the same key after the window (the first job is older than dedup_after): a new mail, queued
            assert await store.put(message(4, now=9000), [keyed(4, "k1", after=5000)]) == {}
            assert await store.get("m4-0") is not None
            assert await store.put(message(5, now=9001), [keyed(5, "k1", after=5000)]) == {"m5-0": "m4-0"}

    run(go())


def test_a_senders_count_and_a_routes_pace(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            counted = [await store.count_send("sender:a", limit=3, window_s=60, now=1000 + i) for i in range(4)]
            assert counted == [True, True, True, False]
            assert await store.count_send("sender:b", limit=3, window_s=60, now=1004)  # its own count
            # at 1061 the sends of 1000 and 1001 fell out of the window: room for two, then none
            assert await store.count_send("sender:a", limit=3, window_s=60, now=1061)
            assert await store.count_send("sender:a", limit=3, window_s=60, now=1061.5)
            assert not await store.count_send("sender:a", limit=3, window_s=60, now=1061.7)
            waits = [await store.pace("route:x", interval_s=0.2) for _ in range(5)]
            # each slot is one interval after the one before, however quickly they are asked for
            assert waits[0] < 0.1 and all(0.1 < b - a < 0.21 for a, b in itertools.pairwise(waits)), waits
            assert await store.pace("route:y", interval_s=0.2) < 0.1

    run(go())


def test_operators_find_filter_page_and_cancel(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            for i in range(5):
                stored = dataclasses.replace(
                    message(i, now=1000.0 + i),
                    mail_from="Camera@Example.org" if i % 2 else "ops_100%@example.net",
                    mail_message_id=f"<mail-{i}@example.org>",
                    subject=f"subject {i}",
                )
                await store.put(stored, jobs(i, 2))
            every = await store.find(Filter())
            # newest first, each with what lists show of its message
            assert [f.job.id for f in every][:3] == ["m4-1", "m4-0", "m3-1"] and len(every) == 10
            assert every[0].mail_from == "ops_100%@example.net" and every[0].subject == "subject 4"
            assert every[0].mail_message_id == "<mail-4@example.org>"
            # paging: the next page starts after the last job of this one
            first = await store.find(Filter(), limit=4)
            last = first[-1].job
            rest = await store.find(Filter(before=(last.created_at, last.id)), limit=100)
            assert [f.job.id for f in first + rest] == [f.job.id for f in every]
            assert {f.job.id for f in await store.find(Filter(sender="camera@"))} == {
                f"m{i}-{k}" for i in (1, 3) for k in (0, 1)
            }
            # LIKE's own characters in a filter are taken as they are
            assert len(await store.find(Filter(sender="100%"))) == 6
            assert len(await store.find(Filter(sender="ops_1"))) == 6 and not await store.find(Filter(sender="o_s"))
            assert {f.job.id for f in await store.find(Filter(number="4561"))} == {f"m{i}-1" for i in range(5)}
            assert {f.job.id for f in await store.find(Filter(since=1001, until=1003))} == {
                "m1-0", "m1-1", "m2-0", "m2-1"
            }  # fmt: skip
            for search in ("m2-1", "m2", "<mail-2@example.org>", "mail-2@example.org"):
                assert {f.job.id for f in await store.find(Filter(search=search))} <= {"m2-0", "m2-1"}, search
                assert "m2-1" in {f.job.id for f in await store.find(Filter(search=search))}, search
            assert await store.find(Filter(search="' OR 1=1 --")) == []
            # cancel: a pending job ends failed; a final one stays as it is
            assert await store.cancel("m0-0", now=2000)
            cancelled = await store.get("m0-0")
            assert cancelled is not None and cancelled.state is JobState.FAILED and cancelled.last_status == "5.0.0"
            assert not await store.cancel("m0-0", now=2001) and not await store.cancel("nope", now=2001)
            assert [f.job.id for f in await store.find(Filter(state=JobState.FAILED))] == ["m0-0"]
            assert await store.activity(since=1002) == {"accepted": 6, "failed": 1}

    run(go())


def test_each_job_keeps_its_timeline(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            await store.put(message(1), jobs(1, 1))
            [job] = await store.lease(owner="w", now=1001, lease_s=30, limit=10)
            wait = Transition(job_id=job.id, owner="w", to=JobState.NOTIFIED, now=1002, at=2000, mmsc_id="x",
                              route="builtin", status="4.0.0")  # fmt: skip
            assert await store.record(wait)
            # a worker that lost its lease records nothing, and nothing goes into the timeline
            assert not await store.record(Transition(job_id=job.id, owner="gone", to=DELIVERED, now=1003))
            await store.handset(job.id, event=Handset.FETCHED, now=1004, at=1005, report_allowed=True)
            await store.note(job.id, at=1006, what="DSN (delivered, 2.0.0) sent to the sender")
            assert await store.cancel(job.id, now=1007)
            assert await store.events(job.id) == [
                (1000.0, "accepted (250) from <a@example.org>"),
                (1002.0, "notified 4.0.0 via builtin (x)"),
                (1004.0, "the phone: fetched"),
                (1006.0, "DSN (delivered, 2.0.0) sent to the sender"),
                (1007.0, "cancelled by an operator"),
            ]
            assert await store.purge(job.id) and await store.events(job.id) == []

    run(go())


def test_api_keys_and_idempotent_answers(kind: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            key = ApiKey(id="k1", name="ticketing", digest="d" * 64, scopes=frozenset({"send", "read"}),
                         created_at=1000.0, rate_per_minute=5, webhook_secret="whsec",
                         status_callback="https://tickets.example.org/mms")  # fmt: skip
            await store.add_key(key)
            assert await store.key_by_digest("d" * 64) == key and await store.key_by_digest("e" * 64) is None
            assert await store.keys() == [key]
            assert await store.revoke_key("k1", now=2000) and not await store.revoke_key("k1", now=2001)
            revoked = await store.key_by_digest("d" * 64)
            assert revoked is not None and revoked.revoked_at == 2000
            assert await store.remembered("k1", "abc") is None
            await store.remember("k1", "abc", status=202, body='{"id": "m1"}', now=1000)
            await store.remember("k1", "abc", status=500, body="later", now=1001)  # the first answer stays
            assert await store.remembered("k1", "abc") == (202, '{"id": "m1"}')
            assert await store.remembered("k2", "abc") is None

    run(go())


def test_text_with_nul_from_a_mail_or_a_peer_is_stored_not_refused(kind: str, tmp_path: Path) -> None:
    """PostgreSQL's text cannot hold NUL: a Message-ID, file name or peer's error carrying one must not keep a mail
    out of the store (451 for ever) nor a transition from being recorded."""

    def shown(text: str | None) -> str | None:
        return text.replace("\ufffd", "\0") if text is not None else None

    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            stored = dataclasses.replace(
                message(1), subject="a\0b", mail_message_id="<x\0y@example.org>", changes=("re\0port.pdf (kept out)",)
            )
            await store.put(stored, jobs(1, 1))
            back = await store.message("m1")
            assert shown(back.subject) == "a\0b" and shown(back.mail_message_id) == "<x\0y@example.org>"
            assert [shown(c) for c in back.changes] == ["re\0port.pdf (kept out)"]
            [job] = await store.lease(owner="w", now=1001, lease_s=30, limit=1)
            retry = Transition(job_id=job.id, owner="w", to=JobState.QUEUED, now=1002, at=1003, status="4.4.1",
                               error="peer said \0")  # fmt: skip
            assert await store.record(retry)
            await store.note(job.id, at=1004, what="note \0")
            found = await store.get(job.id)
            assert found is not None and shown(found.last_error) == "peer said \0"
            assert [shown(what) for _, what in await store.events(job.id)][1:] == [
                "queued 4.4.1: peer said \0",
                "note \0",
            ]

    run(go())


def test_status_callbacks_are_queued_with_the_change_they_report(kind: str, tmp_path: Path) -> None:
    import json

    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            asked = dataclasses.replace(message(1), status_callback="http://127.0.0.1:9/cb", api_key_id="k1")
            await store.put(asked, jobs(1, 1))
            await store.put(message(2), jobs(2, 1))  # no callback asked: nothing queued for it
            for job in await store.lease(owner="w", now=1001, lease_s=30, limit=10):
                wait = Transition(job_id=job.id, owner="w", to=JobState.NOTIFIED, now=1002, at=2000, mmsc_id="x",
                                  status="4.0.0")  # fmt: skip
                assert await store.record(wait)
                await store.handset(job.id, event=Handset.FETCHED, now=1003, at=1004, report_allowed=True)
            hooks = await store.due_webhooks(now=1005, limit=10, lease_s=60)
            bodies = [json.loads(h.body) for h in hooks]
            assert [(b["event"], b["job_id"], b["to"], b["status"]) for b in bodies] == [
                ("notified", "m1-0", "+12015554560", "4.0.0"),
                ("fetched", "m1-0", "+12015554560", None),
            ]
            assert all(h.url == "http://127.0.0.1:9/cb" for h in hooks)
            assert await store.due_webhooks(now=1006, limit=10, lease_s=60) == []  # taken for their lease
            await store.webhook_done(hooks[0].id, now=1007)
            await store.webhook_done(hooks[1].id, now=1007, error="HTTP 500", retry_at=1100)
            [again] = await store.due_webhooks(now=1100, limit=10, lease_s=60)
            assert again.id == hooks[1].id and again.attempts == 1

    run(go())


def test_each_mail_with_a_sender_keeps_the_numbers_conversation(kind: str, tmp_path: Path) -> None:
    """The reply path's memory: the last sender to a number within the window, with the Message-IDs sent (the last
    ten, oldest first); bounces and Auto-Submitted mails start none; the phone's failure words land on the job."""

    async def go() -> None:
        async with opened(kind, tmp_path) as store:
            number = "+12015554560"
            for i in range(12):
                sent = dataclasses.replace(message(i, now=1000.0 + i), subject=f"Alert {i}",
                                           mail_message_id=f"<a{i}@example.org>")  # fmt: skip
                await store.put(sent, jobs(i, 1))
            found = await store.conversation(number, since=0)
            assert found is not None and found.address == "a@example.org" and found.subject == "Alert 11"
            assert found.message_ids == tuple(f"<a{i}@example.org>" for i in range(2, 12)) and found.last_at == 1011
            assert await store.conversation(number, since=1012) is None  # outside the window
            assert await store.conversation("+12015554569", since=0) is None
            bounce = dataclasses.replace(message(20, now=2000.0), mail_from="", mail_message_id="<b@x>")
            robot = dataclasses.replace(message(21, now=2001.0), mail_from="r@example.org", auto_submitted=True)
            await store.put(bounce, jobs(20, 1))
            await store.put(robot, jobs(21, 1))
            later = await store.conversation(number, since=0)
            assert later is not None and later.address == "a@example.org" and later.last_at == 1011
            other = dataclasses.replace(message(22, now=3000.0), mail_from="Ops@Example.org", mail_message_id=None)
            await store.put(other, jobs(22, 1))
            newest = await store.conversation(number, since=0)
            assert newest is not None and newest.address == "ops@example.org" and newest.message_ids == ()
            # a failure a peer reports: its status and words on the job
            [job] = await store.lease(owner="w", now=3001, lease_s=30, limit=1)
            wait = Transition(job_id=job.id, owner="w", to=JobState.NOTIFIED, now=3002, at=9000, status="4.0.0",
                              mmsc_id="SM1", route="tw")  # fmt: skip
            assert await store.record(wait)
            state = await store.handset(job.id, event=Handset.FAILED, now=3003, at=3003, report_allowed=True,
                                        status="5.7.1", detail="Twilio: undelivered (error 30007)")  # fmt: skip
            assert state is JobState.NOTIFIED
            failed = await store.get(job.id)
            assert failed is not None and failed.handset is Handset.FAILED and failed.last_status == "5.7.1"
            assert failed.last_error == "Twilio: undelivered (error 30007)"
            assert (await store.events(job.id))[-1][1] == "Twilio: undelivered (error 30007)"

    run(go())

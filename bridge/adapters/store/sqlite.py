"""`JobStore` on SQLite: the embedded default (`store.url = "sqlite:///path"`).

WAL journal. `put` commits with `synchronous=FULL`, so an accepted mail survives `kill -9` and power loss;
the worker's transitions commit with `synchronous=NORMAL` (durable across a process crash, and after a power
loss at worst a job is delivered again, which routes make idempotent), which saves an fsync per job. One
connection used from one dedicated thread (SQLite has one writer anyway), so the event loop never blocks on
disk. Writes that arrive together (puts, leases, transitions) share one transaction and one fsync (group
commit); none returns before that commit. Every sqlite3 error is raised as `StoreError`.
"""

from __future__ import annotations

import asyncio
import builtins
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bridge.adapters.store.base import (
    CALLBACK_EVENTS,
    Filter,
    NewJob,
    Transition,
    accepted_event,
    callback_body,
    conversation_of,
    filter_sql,
    handset_rule,
    merged_ids,
    transition_text,
)
from bridge.adapters.store.limits import LocalLimits
from bridge.errors import StoreError
from bridge.model import MSISDN, ApiKey, Conversation, Handset, Job, JobState, Listed, Notify, StoredMessage, Webhook

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    mail_from TEXT NOT NULL,
    received_at REAL NOT NULL,
    envid TEXT,
    ret_full INTEGER NOT NULL,
    auto_submitted INTEGER NOT NULL,
    subject TEXT,
    raw BLOB NOT NULL,
    mms BLOB NOT NULL,
    changes TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    original_recipient TEXT,
    notify TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    last_status TEXT,
    last_error TEXT,
    mmsc_id TEXT,
    delay_notified INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    token TEXT NOT NULL DEFAULT '',
    handset TEXT,
    report_allowed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_message ON jobs (message_id);
"""
# columns added after the first release, for databases created before them
_ADDED_COLUMNS = (
    ("token", "TEXT NOT NULL DEFAULT ''"),
    ("handset", "TEXT"),
    ("report_allowed", "INTEGER NOT NULL DEFAULT 1"),
    ("route", "TEXT"),
    ("dedup_key", "TEXT"),
)
_INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_token ON jobs (token);
CREATE INDEX IF NOT EXISTS jobs_mmsc_id ON jobs (mmsc_id);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedup ON jobs (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (job_id TEXT NOT NULL, at REAL NOT NULL, what TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL, rate_per_minute INTEGER NOT NULL DEFAULT 0,
    webhook_secret TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, url TEXT NOT NULL,
    body TEXT NOT NULL, key_id TEXT, next_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, done_at REAL, last_error TEXT);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (next_at) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS idempotency (key_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, status INTEGER NOT NULL,
    body TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (key_id, idempotency_key));
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, at);
CREATE TABLE IF NOT EXISTS conversations (number TEXT NOT NULL, address TEXT NOT NULL, subject TEXT,
    message_ids TEXT NOT NULL DEFAULT '', last_at REAL NOT NULL, PRIMARY KEY (number, address));
"""

_JOB_COLUMNS = (
    "id, message_id, recipient, original_recipient, notify, state, attempts, created_at, expires_at, "
    "next_attempt_at, lease_until, last_status, last_error, mmsc_id, delay_notified, rcpt_to, token, handset, "
    "report_allowed, route, updated_at"
)
_FINAL = "('delivered', 'failed', 'expired')"
_EVENT = "INSERT INTO events (job_id, at, what) VALUES (?, ?, ?)"
_KEY_COLUMNS = "id, name, digest, scopes, created_at, revoked_at, rate_per_minute, webhook_secret, status_callback"


def _queue_callback(db: sqlite3.Connection, job_id: str, event: str, status: str | None, now: float) -> None:
    """The status callback of this change, when the job's message asked for them (in the change's transaction)."""
    row = db.execute(
        "SELECT m.status_callback, m.api_key_id, j.message_id, j.recipient FROM jobs j JOIN messages m"
        " ON m.id = j.message_id WHERE j.id = ? AND m.status_callback IS NOT NULL",
        (job_id,),
    ).fetchone()
    if row is None:
        return
    body = callback_body(event=event, job_id=job_id, message_id=row[2], to=row[3], status=status, at=now)
    db.execute(
        "INSERT INTO webhooks (job_id, url, body, key_id, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, row[0], body, row[1], now, now),
    )


def _key(row: tuple[Any, ...] | Any) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        digest=row[2],
        scopes=frozenset(s for s in row[3].split(",") if s),
        created_at=row[4],
        revoked_at=row[5],
        rate_per_minute=row[6],
        webhook_secret=row[7],
        status_callback=row[8],
    )


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        message_id=row[1],
        recipient=MSISDN(e164=row[2]),
        original_recipient=row[3],
        notify=frozenset(Notify(n) for n in row[4].split(",") if n),
        state=JobState(row[5]),
        attempts=row[6],
        created_at=row[7],
        expires_at=row[8],
        next_attempt_at=row[9],
        lease_until=row[10],
        last_status=row[11],
        last_error=row[12],
        mmsc_id=row[13],
        delay_notified=bool(row[14]),
        rcpt_to=row[15],
        token=row[16],
        handset=Handset(row[17]) if row[17] else None,
        report_allowed=bool(row[18]),
        route=row[19],
        updated_at=row[20],
    )


class SQLiteJobStore:
    """See the module docstring. Create with `await SQLiteJobStore.open(path)`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], bool, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None
        #: told how long each commit took (the bridge's metrics)
        self.observe_commit: Callable[[float], None] = lambda seconds: None
        # one process owns the file: its limits are counted in memory
        self._limits = LocalLimits()
        self.count_send = self._limits.count_send
        self.pace = self._limits.pace

    @classmethod
    async def open(cls, path: Path) -> SQLiteJobStore:
        store = cls(path)
        await store._run(store._connect)
        return store

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED_COLUMNS:
            if name not in have:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
        message_columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        if "changes" not in message_columns:
            db.execute("ALTER TABLE messages ADD COLUMN changes TEXT NOT NULL DEFAULT ''")
        if "mail_message_id" not in message_columns:
            db.execute("ALTER TABLE messages ADD COLUMN mail_message_id TEXT")
        for name in ("status_callback", "api_key_id"):
            if name not in message_columns:
                db.execute(f"ALTER TABLE messages ADD COLUMN {name} TEXT")
        db.executescript(_INDEXES)
        if "status_callback" not in {row[1] for row in db.execute("PRAGMA table_info(api_keys)")}:
            db.execute("ALTER TABLE api_keys ADD COLUMN status_callback TEXT")
        self._db = db

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store {self._path}: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "store is closed"
        return self._db

    # --- writes, with group commit ---------------------------------------------------------------------------

    async def _write(self, body: Callable[[sqlite3.Connection], _T], *, durable: bool) -> _T:
        """Run `body` in a transaction shared with the other writes that are waiting (one commit, one fsync
        for all of them); `durable` asks for synchronous=FULL for that commit."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((body, durable, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        result: _T = await future
        return result

    async def _commit_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                started = time.perf_counter()
                outcomes = await self._run(self._apply, [(body, durable) for body, durable, _ in batch])
                self.observe_commit(time.perf_counter() - started)
            except StoreError as exc:
                outcomes = [(False, exc)] * len(batch)
            for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    error = (
                        value if isinstance(value, StoreError) else StoreError(f"sqlite store {self._path}: {value}")
                    )
                    future.set_exception(error)

    def _apply(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], bool]]) -> list[tuple[bool, Any]]:
        db = self.db
        durable = any(d for _, d in batch)
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("BEGIN IMMEDIATE")
        try:
            results = [body(db) for body, _ in batch]
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            if len(batch) == 1:
                return [(False, exc)]
            # one bad write must not fail the others: each again in a transaction of its own
            return [self._apply([item])[0] for item in batch]
        return [(True, r) for r in results]

    async def put(self, message: StoredMessage, jobs: Sequence[NewJob]) -> dict[str, str]:
        def body(db: sqlite3.Connection) -> dict[str, str]:
            duplicates: dict[str, str] = {}
            for job in jobs:
                if job.dedup_key is None:
                    continue
                row = db.execute("SELECT id, created_at FROM jobs WHERE dedup_key = ?", (job.dedup_key,)).fetchone()
                if row is not None and row[1] > job.dedup_after:
                    duplicates[job.id] = row[0]
                elif row is not None:  # the same key long ago: a new mail; the old job gives the key up
                    db.execute("UPDATE jobs SET dedup_key = NULL WHERE id = ?", (row[0],))
            fresh = [job for job in jobs if job.id not in duplicates]
            if not fresh:
                return duplicates
            db.execute(
                "INSERT INTO messages (id, mail_from, received_at, envid, ret_full, auto_submitted, subject,"
                " raw, mms, changes, mail_message_id, status_callback, api_key_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.mail_from,
                    message.received_at,
                    message.envid,
                    int(message.ret_full),
                    int(message.auto_submitted),
                    message.subject,
                    message.raw,
                    message.mms,
                    "\n".join(message.changes),
                    message.mail_message_id,
                    message.status_callback,
                    message.api_key_id,
                ),
            )
            db.executemany(
                "INSERT INTO jobs (id, message_id, recipient, rcpt_to, original_recipient, notify, state,"
                " created_at, expires_at, next_attempt_at, updated_at, token, dedup_key)"
                " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job.id,
                        message.id,
                        job.recipient.e164,
                        job.rcpt_to,
                        job.original_recipient,
                        ",".join(sorted(job.notify)),
                        message.received_at,
                        job.expires_at,
                        message.received_at,
                        message.received_at,
                        job.token,
                        job.dedup_key,
                    )
                    for job in fresh
                ],
            )
            for number, address in conversation_of(message, fresh):
                row = db.execute(
                    "SELECT message_ids FROM conversations WHERE number = ? AND address = ?", (number, address)
                ).fetchone()
                db.execute(
                    "INSERT OR REPLACE INTO conversations (number, address, subject, message_ids, last_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (number, address, message.subject, merged_ids(row[0] if row else "", message.mail_message_id),
                     message.received_at),
                )  # fmt: skip
            return duplicates

        return await self._write(body, durable=True)

    async def conversation(self, number: str, *, since: float) -> Conversation | None:
        def run() -> Conversation | None:
            row = self.db.execute(
                "SELECT number, address, subject, message_ids, last_at FROM conversations"
                " WHERE number = ? AND last_at >= ? ORDER BY last_at DESC LIMIT 1",
                (number, since),
            ).fetchone()
            if row is None:
                return None
            return Conversation(number=row[0], address=row[1], subject=row[2], message_ids=tuple(row[3].split()),
                                last_at=row[4])  # fmt: skip

        return await self._run(run)

    # --- leasing and transitions ---------------------------------------------------------------------------

    async def lease(self, *, owner: str, now: float, lease_s: float, limit: int) -> list[Job]:
        def body(db: sqlite3.Connection) -> list[Job]:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE (state IN ('queued', 'notified', 'retrieved') AND next_attempt_at <= ?)"
                    " OR (state = 'leased' AND lease_until < ?) ORDER BY next_attempt_at LIMIT ?",
                    (now, now, limit),
                )
            ]
            db.executemany(
                "UPDATE jobs SET state = 'leased', lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?",
                [(owner, now + lease_s, now, job_id) for job_id in ids],
            )
            return [_job(db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (i,)).fetchone()) for i in ids]

        return await self._write(body, durable=False)

    async def _transition(self, t: Transition, sql: str, args: tuple[Any, ...]) -> bool:
        # Only the lease holder may finish a job: a worker whose lease ran out and was taken over loses.
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                f"UPDATE jobs SET {sql} WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                (*args, t.job_id, t.owner),
            )
            if cur.rowcount:
                db.execute(_EVENT, (t.job_id, t.now, transition_text(t)))
                if t.to.value in CALLBACK_EVENTS:
                    _queue_callback(db, t.job_id, t.to.value, t.status, t.now)
            return cur.rowcount > 0

        return await self._write(body, durable=False)

    async def record(self, transition: Transition) -> bool:
        t = transition
        if t.to is JobState.DELIVERED:
            sql = (
                "state = 'delivered', mmsc_id = ?, route = COALESCE(?, route), last_status = ?, last_error = NULL,"
                " updated_at = ?"
            )
            args: tuple[Any, ...] = (t.mmsc_id, t.route, t.status, t.now)
        elif t.to is JobState.QUEUED:
            sql = (
                "state = 'queued', next_attempt_at = ?, last_status = ?, last_error = ?, delay_notified = ?,"
                " updated_at = ?"
            )
            args = (t.at, t.status, t.error, int(t.delay_notified), t.now)
        elif t.to is JobState.NOTIFIED:
            sql = (
                "state = 'notified', next_attempt_at = ?, mmsc_id = ?, route = COALESCE(?, route), last_status = ?,"
                " last_error = NULL, delay_notified = ?, updated_at = ?"
            )
            args = (t.at, t.mmsc_id, t.route, t.status, int(t.delay_notified), t.now)
        else:  # FAILED, EXPIRED
            sql = f"state = '{t.to.value}', last_status = ?, last_error = ?, updated_at = ?"
            args = (t.status, t.error, t.now)
        return await self._transition(
            t, sql + ", attempts = attempts + 1, lease_owner = NULL, lease_until = NULL", args
        )

    async def handset(
        self,
        job_id: str,
        *,
        event: Handset,
        now: float,
        at: float,
        report_allowed: bool,
        status: str | None = None,
        detail: str | None = None,
    ) -> JobState | None:
        where, state = handset_rule(event)

        def body(db: sqlite3.Connection) -> JobState | None:
            cur = db.execute(
                f"UPDATE jobs SET state = ?, handset = ?, report_allowed = ?, next_attempt_at = ?,"
                " last_status = COALESCE(?, last_status), last_error = COALESCE(?, last_error),"
                f" lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND {where}",
                (state.value, event.value, int(report_allowed), at, status, detail, now, job_id),
            )
            if cur.rowcount:
                db.execute(_EVENT, (job_id, now, detail or f"the phone: {event.value}"))
                if event is Handset.FETCHED:
                    _queue_callback(db, job_id, "fetched", None, now)
            return state if cur.rowcount else None

        return await self._write(body, durable=True)

    async def sweep(self, *, before: float) -> int:
        def body(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE messages SET raw = x'', mms = x'' WHERE length(mms) > 0 AND id IN ("
                " SELECT message_id FROM jobs GROUP BY message_id"
                f" HAVING SUM(state NOT IN {_FINAL}) = 0 AND MAX(updated_at) < ?)",
                (before,),
            )
            return cur.rowcount

        return await self._write(body, durable=False)

    async def release(self, *, owner: str) -> int:
        def body(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL"
                " WHERE state = 'leased' AND lease_owner = ?",
                (owner,),
            )
            return cur.rowcount

        return await self._write(body, durable=True)

    async def requeue(self, job_id: str, *, now: float) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE jobs SET state = 'queued', next_attempt_at = ?, lease_owner = NULL, lease_until = NULL,"
                " updated_at = ? WHERE id = ? AND state IN ('queued', 'leased', 'notified')",
                (now, now, job_id),
            )
            if cur.rowcount:
                db.execute(
                    "INSERT INTO events (job_id, at, what) VALUES (?, ?, 'queued again by an operator')", (job_id, now)
                )
            return cur.rowcount > 0

        return await self._write(body, durable=True)

    async def purge(self, job_id: str) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT message_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
            if not db.execute("SELECT 1 FROM jobs WHERE message_id = ?", (row[0],)).fetchone():
                db.execute("DELETE FROM messages WHERE id = ?", (row[0],))
            return True

        return await self._write(body, durable=True)

    # --- reading -------------------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        def run() -> Job | None:
            row = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return _job(row) if row else None

        return await self._run(run)

    async def by_token(self, token: str) -> Job | None:
        def run() -> Job | None:
            row = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE token = ?", (token,)).fetchone()
            return _job(row) if row else None

        return await self._run(run) if token else None

    async def by_mmsc_id(self, route: str, mmsc_id: str) -> Job | None:
        def run() -> Job | None:
            row = self.db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE mmsc_id = ? AND route = ?", (mmsc_id, route)
            ).fetchone()
            return _job(row) if row else None

        return await self._run(run)

    async def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        def run() -> list[Job]:
            if state is None:
                rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at LIMIT ?", (limit,))
            else:
                rows = self.db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY created_at LIMIT ?",
                    (state.value, limit),
                )
            return [_job(r) for r in rows]

        return await self._run(run)

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage:
        found = await self.messages([message_id], with_raw=with_raw)
        if message_id not in found:
            raise StoreError(f"no message {message_id}")
        return found[message_id]

    async def messages(self, message_ids: Sequence[str], *, with_raw: bool = False) -> dict[str, StoredMessage]:
        raw_column = "raw" if with_raw else "x''"
        wanted = list(dict.fromkeys(message_ids))

        def run() -> dict[str, StoredMessage]:
            rows = self.db.execute(
                f"SELECT id, mail_from, received_at, envid, ret_full, auto_submitted, subject, {raw_column}, mms,"
                " changes, mail_message_id"
                f" FROM messages WHERE id IN ({', '.join('?' * len(wanted))})",
                wanted,
            ).fetchall()
            return {
                row[0]: StoredMessage(
                    id=row[0],
                    mail_from=row[1],
                    received_at=row[2],
                    envid=row[3],
                    ret_full=bool(row[4]),
                    auto_submitted=bool(row[5]),
                    subject=row[6],
                    raw=bytes(row[7]),
                    mms=bytes(row[8]),
                    changes=tuple(row[9].split("\n")) if row[9] else (),
                    mail_message_id=row[10],
                )
                for row in rows
            }

        return await self._run(run) if wanted else {}

    async def find(self, where: Filter, *, limit: int = 50) -> builtins.list[Listed]:
        clause, args = filter_sql(where, lambda n: "?")
        columns = ", ".join("j." + c for c in _JOB_COLUMNS.split(", "))

        def run() -> builtins.list[Listed]:
            rows = self.db.execute(
                f"SELECT {columns}, m.mail_from, m.subject, m.mail_message_id FROM jobs j"
                f" JOIN messages m ON m.id = j.message_id{clause} ORDER BY j.created_at DESC, j.id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [Listed(job=_job(r[:21]), mail_from=r[21], subject=r[22], mail_message_id=r[23]) for r in rows]

        return await self._run(run)

    async def activity(self, *, since: float) -> dict[str, int]:
        def run() -> dict[str, int]:
            found = dict(
                self.db.execute(
                    f"SELECT state, count(*) FROM jobs WHERE state IN {_FINAL} AND updated_at >= ? GROUP BY 1",
                    (since,),
                ).fetchall()
            )
            found["accepted"] = self.db.execute("SELECT count(*) FROM jobs WHERE created_at >= ?", (since,)).fetchone()[
                0
            ]
            return found

        return await self._run(run)

    async def cancel(self, job_id: str, *, now: float) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE jobs SET state = 'failed', last_status = '5.0.0', last_error = 'cancelled by an operator',"
                f" lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND state NOT IN {_FINAL}",
                (now, job_id),
            )
            if cur.rowcount:
                db.execute(
                    "INSERT INTO events (job_id, at, what) VALUES (?, ?, 'cancelled by an operator')", (job_id, now)
                )
            return cur.rowcount > 0

        return await self._write(body, durable=True)

    async def note(self, job_id: str, *, at: float, what: str) -> None:
        def body(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO events (job_id, at, what) VALUES (?, ?, ?)", (job_id, at, what))

        await self._write(body, durable=False)

    async def events(self, job_id: str) -> builtins.list[tuple[float, str]]:
        def run() -> builtins.list[tuple[float, str]]:
            # the first line comes from the job and its message (one write less for every mail taken)
            first = self.db.execute(
                "SELECT j.created_at, m.mail_from FROM jobs j JOIN messages m ON m.id = j.message_id WHERE j.id = ?",
                (job_id,),
            ).fetchone()
            if first is None:
                return []
            rows = self.db.execute("SELECT at, what FROM events WHERE job_id = ? ORDER BY at, rowid", (job_id,))
            return [accepted_event(first[0], first[1]), *((float(r[0]), str(r[1])) for r in rows)]

        return await self._run(run)

    # --- the HTTP API's keys and idempotency --------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        def body(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO api_keys (id, name, digest, scopes, created_at, revoked_at, rate_per_minute,"
                " webhook_secret, status_callback) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key.id, key.name, key.digest, ",".join(sorted(key.scopes)), key.created_at, key.revoked_at,
                 key.rate_per_minute, key.webhook_secret, key.status_callback),
            )  # fmt: skip

        await self._write(body, durable=True)

    async def key_by_digest(self, digest: str) -> ApiKey | None:
        def run() -> ApiKey | None:
            row = self.db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE digest = ?", (digest,)).fetchone()
            return _key(row) if row else None

        return await self._run(run)

    async def keys(self) -> builtins.list[ApiKey]:
        def run() -> builtins.list[ApiKey]:
            return [_key(r) for r in self.db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")]

        return await self._run(run)

    async def revoke_key(self, key_id: str, *, now: float) -> bool:
        def body(db: sqlite3.Connection) -> bool:
            cur = db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, key_id))
            return cur.rowcount > 0

        return await self._write(body, durable=True)

    async def remembered(self, key_id: str, idempotency_key: str) -> tuple[int, str] | None:
        def run() -> tuple[int, str] | None:
            row = self.db.execute(
                "SELECT status, body FROM idempotency WHERE key_id = ? AND idempotency_key = ?",
                (key_id, idempotency_key),
            ).fetchone()
            return (int(row[0]), str(row[1])) if row else None

        return await self._run(run)

    async def remember(self, key_id: str, idempotency_key: str, *, status: int, body: str, now: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO idempotency (key_id, idempotency_key, status, body, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key_id, idempotency_key, status, body, now),
            )

        await self._write(write, durable=True)

    async def due_webhooks(self, *, now: float, limit: int, lease_s: float) -> builtins.list[Webhook]:
        def body(db: sqlite3.Connection) -> builtins.list[Webhook]:
            rows = db.execute(
                "SELECT w.id, w.url, w.body, COALESCE(k.webhook_secret, ''), w.attempts, w.created_at FROM webhooks w"
                " LEFT JOIN api_keys k ON k.id = w.key_id WHERE w.done_at IS NULL AND w.next_at <= ? ORDER BY w.id"
                " LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany("UPDATE webhooks SET next_at = ? WHERE id = ?", [(now + lease_s, r[0]) for r in rows])
            return [Webhook(id=r[0], url=r[1], body=r[2], secret=r[3], attempts=r[4], created_at=r[5]) for r in rows]

        return await self._write(body, durable=False)

    async def webhook_done(
        self, webhook_id: int, *, now: float, error: str | None = None, retry_at: float | None = None
    ) -> None:
        def body(db: sqlite3.Connection) -> None:
            if retry_at is None:
                db.execute("UPDATE webhooks SET done_at = ?, last_error = ? WHERE id = ?", (now, error, webhook_id))
            else:
                db.execute(
                    "UPDATE webhooks SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
                    (retry_at, error, webhook_id),
                )

        await self._write(body, durable=False)

    async def watch(self, wake: Callable[[], None]) -> None:
        """One process owns an SQLite store: its own intake wakes its worker, nobody else can."""

    async def status(self) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            counts = dict(self.db.execute("SELECT state, count(*) FROM jobs GROUP BY 1").fetchall())
            oldest = self.db.execute(
                "SELECT MIN(next_attempt_at) FROM jobs WHERE state IN ('queued', 'notified', 'retrieved')"
                " AND next_attempt_at <= ?",
                (time.time(),),
            ).fetchone()[0]
            return {"store": "sqlite", "path": str(self._path), "jobs": counts, "oldest_due_at": oldest}

        return await self._run(run)

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

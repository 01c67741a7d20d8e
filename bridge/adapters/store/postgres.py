"""`JobStore` on PostgreSQL with asyncpg (`store.url = "postgresql://user:password@host:port/db"`, or a bare
`postgresql://` and the usual `PG*` environment variables): several bridges, one queue.

Everything instances share lives here: messages (the mail and the MMS, `bytea`), jobs, content tokens, the phone's
answers. Leasing is `SELECT … FOR UPDATE SKIP LOCKED`, so two instances never take the same job and a lease that
runs out is taken over by whichever instance looks next. Each write that wakes a worker (`put`, the phone's word,
`requeue`) sends `NOTIFY bridge_jobs` in its transaction; every instance `LISTEN`s and wakes its worker at the
commit, so new mail does not wait for a poll. Writes that arrive together share one transaction (a savepoint
each, so one bad write does not fail the others) and one commit, as the SQLite store batches them; none returns
before that commit, and intake answers 250 only after. Content sweeping runs under a transaction-scoped advisory
lock, so one instance does it per round, not all of them.

The schema is versioned: migrations run at start under a session advisory lock, so instances starting together
wait for each other instead of racing. Every asyncpg or connection error is raised as `StoreError`; the pool
reconnects by itself and `open` retries with backoff, so a restarted PostgreSQL is picked up without a restart.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar, overload

import asyncpg

from bridge.adapters.store.base import (
    CALLBACK_EVENTS,
    Filter,
    NewJob,
    Transition,
    accepted_event,
    conversation_of,
    filter_sql,
    handset_rule,
    merged_ids,
    transition_text,
)
from bridge.errors import StoreError
from bridge.model import MSISDN, ApiKey, Conversation, Handset, Job, JobState, Listed, Notify, StoredMessage, Webhook

log = logging.getLogger(__name__)


class _OneLine(logging.Filter):
    """asyncpg's pool logs a traceback each time it fails to reconnect while PostgreSQL is away; the bridge's
    log says it in one line, as it says every other store error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} error={record.exc_info[1]!r}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLine())

_T = TypeVar("_T")
#: asyncpg has no type information: its connection is what it is
Connection: TypeAlias = asyncpg.Connection

#: advisory lock keys (any 64-bit numbers; these spell "mmsb" and a purpose)
MIGRATION_LOCK = 0x6D6D7362_00000001
SWEEP_LOCK = 0x6D6D7362_00000002
CHANNEL = "bridge_jobs"

#: (version, statements): applied in order, each in its own transaction, never edited once released
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE messages (
            id text PRIMARY KEY,
            mail_from text NOT NULL,
            received_at double precision NOT NULL,
            envid text,
            ret_full boolean NOT NULL,
            auto_submitted boolean NOT NULL,
            subject text,
            raw bytea NOT NULL,
            mms bytea NOT NULL,
            changes text NOT NULL DEFAULT ''
        );
        CREATE TABLE jobs (
            id text PRIMARY KEY,
            message_id text NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            recipient text NOT NULL,
            rcpt_to text NOT NULL,
            original_recipient text,
            notify text NOT NULL,
            state text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            created_at double precision NOT NULL,
            expires_at double precision NOT NULL,
            next_attempt_at double precision NOT NULL,
            lease_owner text,
            lease_until double precision,
            last_status text,
            last_error text,
            mmsc_id text,
            delay_notified boolean NOT NULL DEFAULT false,
            updated_at double precision NOT NULL,
            token text NOT NULL DEFAULT '',
            handset text,
            report_allowed boolean NOT NULL DEFAULT true,
            route text
        );
        CREATE INDEX jobs_due ON jobs (next_attempt_at) WHERE state IN ('queued', 'notified', 'retrieved');
        CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'leased';
        CREATE INDEX jobs_message ON jobs (message_id);
        CREATE INDEX jobs_token ON jobs (token);
        CREATE INDEX jobs_mmsc_id ON jobs (mmsc_id, route);
        CREATE INDEX jobs_state_created ON jobs (state, created_at);
        """,
    ),
    (
        2,
        """
        ALTER TABLE jobs ADD COLUMN dedup_key text;
        CREATE UNIQUE INDEX jobs_dedup ON jobs (dedup_key) WHERE dedup_key IS NOT NULL;
        """,
    ),
    (
        3,
        """
        CREATE TABLE sends (key text NOT NULL, at double precision NOT NULL);
        CREATE INDEX sends_key_at ON sends (key, at);
        CREATE TABLE paces (key text PRIMARY KEY, next_at double precision NOT NULL);
        """,
    ),
    (
        4,
        # a mail is mostly base64 of JPEGs and the MMS is JPEG: compressing them costs PostgreSQL CPU for nothing
        """
        ALTER TABLE messages ALTER COLUMN raw SET STORAGE EXTERNAL;
        ALTER TABLE messages ALTER COLUMN mms SET STORAGE EXTERNAL;
        """,
    ),
    (
        5,
        """
        ALTER TABLE messages ADD COLUMN mail_message_id text;
        CREATE INDEX messages_mail_message_id ON messages (mail_message_id);
        CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
        """,
    ),
    (
        6,
        """
        CREATE TABLE events (seq bigserial PRIMARY KEY, job_id text NOT NULL, at double precision NOT NULL,
                             what text NOT NULL);
        CREATE INDEX events_job ON events (job_id, at);
        """,
    ),
    (
        7,
        """
        CREATE TABLE api_keys (id text PRIMARY KEY, name text NOT NULL, digest text NOT NULL UNIQUE,
            scopes text NOT NULL, created_at double precision NOT NULL, revoked_at double precision,
            rate_per_minute integer NOT NULL DEFAULT 0, webhook_secret text NOT NULL DEFAULT '');
        CREATE TABLE idempotency (key_id text NOT NULL, idempotency_key text NOT NULL, status integer NOT NULL,
            body text NOT NULL, created_at double precision NOT NULL, PRIMARY KEY (key_id, idempotency_key));
        """,
    ),
    (
        8,
        """
        ALTER TABLE messages ADD COLUMN status_callback text;
        ALTER TABLE messages ADD COLUMN api_key_id text;
        CREATE TABLE webhooks (id bigserial PRIMARY KEY, job_id text NOT NULL, url text NOT NULL, body text NOT NULL,
            key_id text, next_at double precision NOT NULL, attempts integer NOT NULL DEFAULT 0,
            created_at double precision NOT NULL, done_at double precision, last_error text);
        CREATE INDEX webhooks_due ON webhooks (next_at) WHERE done_at IS NULL;
        """,
    ),
    (9, "ALTER TABLE api_keys ADD COLUMN status_callback text;"),
    (
        10,
        """
        CREATE TABLE conversations (number text NOT NULL, address text NOT NULL, subject text,
            message_ids text NOT NULL DEFAULT '', last_at double precision NOT NULL, PRIMARY KEY (number, address));
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
_EVENT = "INSERT INTO events (job_id, at, what) VALUES ($1, $2, $3)"
#: the status callback of the jobs in `done` (id, message_id, recipient) whose message asked for them, its body
#: built by PostgreSQL (jsonb: the same fields as `callback_body` writes for SQLite)
_CALLBACK_FROM_DONE = (
    "INSERT INTO webhooks (job_id, url, body, key_id, next_at, created_at)"
    " SELECT d.id, m.status_callback, jsonb_build_object('event', {event}::text, 'message_id', d.message_id,"
    " 'job_id', d.id, 'to', d.recipient, 'status', {status}::text, 'at', {now}::double precision)::text,"
    " m.api_key_id, {now}, {now} FROM done d JOIN messages m ON m.id = d.message_id"
    " WHERE m.status_callback IS NOT NULL"
)
_FETCHED_CALLBACK = _CALLBACK_FROM_DONE.format(event="'fetched'", status="NULL", now="$5")
_KEY_COLUMNS = "id, name, digest, scopes, created_at, revoked_at, rate_per_minute, webhook_secret, status_callback"


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        digest=row["digest"],
        scopes=frozenset(s for s in row["scopes"].split(",") if s),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        rate_per_minute=row["rate_per_minute"],
        webhook_secret=row["webhook_secret"],
        status_callback=row["status_callback"],
    )


_JOB_COLUMNS = (
    "id, message_id, recipient, original_recipient, notify, state, attempts, created_at, expires_at, "
    "next_attempt_at, lease_until, last_status, last_error, mmsc_id, delay_notified, rcpt_to, token, handset, "
    "report_allowed, route, updated_at"
)
_LEASED_COLUMNS = ", ".join("jobs." + c for c in _JOB_COLUMNS.split(", "))
_FINAL = "('delivered', 'failed', 'expired')"
#: what asyncpg and the network raise when PostgreSQL is away or refuses
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=row["id"],
        message_id=row["message_id"],
        recipient=MSISDN(e164=row["recipient"]),
        original_recipient=row["original_recipient"],
        notify=frozenset(Notify(n) for n in row["notify"].split(",") if n),
        state=JobState(row["state"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        next_attempt_at=row["next_attempt_at"],
        lease_until=row["lease_until"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        mmsc_id=row["mmsc_id"],
        delay_notified=row["delay_notified"],
        rcpt_to=row["rcpt_to"],
        token=row["token"],
        handset=Handset(row["handset"]) if row["handset"] else None,
        report_allowed=row["report_allowed"],
        route=row["route"],
        updated_at=row["updated_at"],
    )


@overload
def _text(value: str) -> str: ...


@overload
def _text(value: None) -> None: ...


def _text(value: str | None) -> str | None:
    """A text for a PostgreSQL `text` column, which cannot hold NUL (SQLite's can): each NUL becomes U+FFFD, so a
    mail or a peer's answer carrying one is stored, not refused by the database for ever."""
    return value.replace("\0", "\ufffd") if value is not None and "\0" in value else value


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


async def migrate(conn: Connection) -> int:
    """Bring the schema to SCHEMA_VERSION under the migration lock; the version it was at before."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL"
            " DEFAULT now())"
        )
        before = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        for version, statements in MIGRATIONS:
            if version > before:
                async with conn.transaction():
                    await conn.execute(statements)
                    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
                log.info("store=postgresql schema=%d migrated=yes", version)
        return int(before)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


class PostgresJobStore:
    """See the module docstring. Create with `await PostgresJobStore.open(url)`."""

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self._url = url
        self._pool = pool
        self._pending: list[tuple[Callable[[Connection], Awaitable[Any]], bool, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None
        self._listener: Connection | None = None
        self._watch_task: asyncio.Task[None] | None = None
        #: told how long each commit took (the bridge's metrics)
        self.observe_commit: Callable[[float], None] = lambda seconds: None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        connect_attempts: int = 5,
        command_timeout_s: float = 30,
    ) -> PostgresJobStore:
        delay = 0.5
        for attempt in range(1, connect_attempts + 1):
            try:
                pool = await asyncpg.create_pool(
                    url or None, min_size=min_size, max_size=max_size, command_timeout=command_timeout_s
                )
                break
            except _ERRORS as exc:
                if attempt == connect_attempts:
                    raise StoreError(f"postgresql store {_safe(url)}: {exc}") from exc
                log.warning("store=postgresql connect=failed attempt=%d error=%r", attempt, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except _ERRORS as exc:
            await pool.close()
            raise StoreError(f"postgresql store {_safe(url)}: {exc}") from exc
        return cls(url, pool)

    async def _run(self, fn: Callable[[Connection], Awaitable[_T]]) -> _T:
        try:
            async with self._pool.acquire() as conn:
                return await fn(conn)
        except _ERRORS as exc:
            raise StoreError(f"postgresql store {_safe(self._url)}: {exc}") from exc

    # --- waking the workers of every instance -----------------------------------------------------------------

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever any instance commits work for the workers; keeps listening across restarts of
        PostgreSQL (until `close`)."""
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._listen(wake))

    async def _listen(self, wake: Callable[[], None]) -> None:
        delay = 0.5
        while True:
            try:
                conn: Connection = await asyncpg.connect(self._url or None)
            except _ERRORS as exc:
                log.warning("store=postgresql listen=failed error=%r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
                continue
            delay = 0.5
            lost = asyncio.Event()
            self._listener = conn
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, lambda *_: wake())
                wake()  # what was committed while nobody listened
                await lost.wait()
            except _ERRORS as exc:
                log.warning("store=postgresql listen=lost error=%r", exc)
            finally:
                self._listener = None
                with contextlib.suppress(*_ERRORS):
                    await conn.close(timeout=1)
            await asyncio.sleep(delay)

    # --- writes, with group commit ------------------------------------------------------------------------

    async def _write(self, body: Callable[[Connection], Awaitable[_T]], *, wakes: bool = False) -> _T:
        """Run `body` in a transaction shared with the other writes that are waiting (one commit for all of
        them, a savepoint each); `wakes` sends the NOTIFY that wakes every instance's worker at that commit."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((body, wakes, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        result: _T = await future
        return result

    async def _commit_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                started = time.perf_counter()
                outcomes = await self._run(functools.partial(self._apply, batch=batch))
                self.observe_commit(time.perf_counter() - started)
            except StoreError as exc:
                outcomes = [(False, exc)] * len(batch)
            for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    error = value if isinstance(value, StoreError) else StoreError(f"postgresql store: {value}")
                    future.set_exception(error)

    @classmethod
    async def _apply(
        cls, conn: Connection, *, batch: list[tuple[Callable[[Connection], Awaitable[Any]], bool, asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        """The whole batch in one transaction; should one write fail, each again in a transaction of its own, so
        that it fails alone (savepoints for every write would cost two more round trips each, every time)."""
        wakes = any(w for _, w, _ in batch)
        try:
            async with conn.transaction():
                results = [await body(conn) for body, _, _ in batch]
                if wakes:
                    await conn.execute(f"NOTIFY {CHANNEL}")
            return [(True, r) for r in results]
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            raise  # the connection is gone: the whole batch fails
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]  # one write's failure is that write's answer
        return [(await cls._apply(conn, batch=[item]))[0] for item in batch]

    async def put(self, message: StoredMessage, jobs: Sequence[NewJob]) -> dict[str, str]:
        async def body(conn: Connection) -> dict[str, str]:
            duplicates: dict[str, str] = {}
            for job in jobs:
                if job.dedup_key is None:
                    continue
                # two instances taking the same mail at once: one waits for the other's commit here
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", job.dedup_key)
                row = await conn.fetchrow("SELECT id, created_at FROM jobs WHERE dedup_key = $1", job.dedup_key)
                if row is not None and row["created_at"] > job.dedup_after:
                    duplicates[job.id] = row["id"]
                elif row is not None:  # the same key long ago: a new mail; the old job gives the key up
                    await conn.execute("UPDATE jobs SET dedup_key = NULL WHERE id = $1", row["id"])
            fresh = [job for job in jobs if job.id not in duplicates]
            if not fresh:
                return duplicates
            await conn.execute(
                "INSERT INTO messages (id, mail_from, received_at, envid, ret_full, auto_submitted, subject, raw, mms,"
                " changes, mail_message_id, status_callback, api_key_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                message.id,
                _text(message.mail_from),
                message.received_at,
                _text(message.envid),
                message.ret_full,
                message.auto_submitted,
                _text(message.subject),
                message.raw,
                message.mms,
                _text("\n".join(message.changes)),
                _text(message.mail_message_id),
                message.status_callback,
                message.api_key_id,
            )
            await conn.executemany(
                "INSERT INTO jobs (id, message_id, recipient, rcpt_to, original_recipient, notify, state, created_at,"
                " expires_at, next_attempt_at, updated_at, token, dedup_key)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $7, $7, $9, $10)",
                [
                    (
                        job.id,
                        message.id,
                        job.recipient.e164,
                        _text(job.rcpt_to),
                        _text(job.original_recipient),
                        ",".join(sorted(job.notify)),
                        message.received_at,
                        job.expires_at,
                        job.token,
                        job.dedup_key,
                    )
                    for job in fresh
                ],
            )
            for number, address in conversation_of(message, fresh):
                # the row locked while its Message-IDs are merged: two bridges taking mails for one number at once
                old = await conn.fetchval(
                    "SELECT message_ids FROM conversations WHERE number = $1 AND address = $2 FOR UPDATE",
                    number, address,
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO conversations (number, address, subject, message_ids, last_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (number, address) DO UPDATE SET"
                    " subject = excluded.subject, message_ids = excluded.message_ids, last_at = excluded.last_at",
                    number, _text(address), _text(message.subject) if message.subject is not None else None,
                    _text(merged_ids(old or "", message.mail_message_id)), message.received_at,
                )  # fmt: skip
            return duplicates

        return await self._write(body, wakes=True)

    async def conversation(self, number: str, *, since: float) -> Conversation | None:
        async def run(conn: Connection) -> Conversation | None:
            row = await conn.fetchrow(
                "SELECT number, address, subject, message_ids, last_at FROM conversations"
                " WHERE number = $1 AND last_at >= $2 ORDER BY last_at DESC LIMIT 1",
                number, since,
            )  # fmt: skip
            if row is None:
                return None
            return Conversation(number=row["number"], address=row["address"], subject=row["subject"],
                                message_ids=tuple(row["message_ids"].split()), last_at=row["last_at"])  # fmt: skip

        return await self._run(run)

    # --- leasing and transitions ---------------------------------------------------------------------------

    async def lease(self, *, owner: str, now: float, lease_s: float, limit: int) -> list[Job]:
        async def body(conn: Connection) -> list[Job]:
            rows = await conn.fetch(
                "WITH due AS ("
                " SELECT id FROM jobs WHERE (state IN ('queued', 'notified', 'retrieved') AND next_attempt_at <= $1)"
                " OR (state = 'leased' AND lease_until < $1) ORDER BY next_attempt_at LIMIT $2"
                " FOR UPDATE SKIP LOCKED)"
                " UPDATE jobs SET state = 'leased', lease_owner = $3, lease_until = $4, updated_at = $1"
                f" FROM due WHERE jobs.id = due.id RETURNING {_LEASED_COLUMNS}",
                now,
                limit,
                owner,
                now + lease_s,
            )
            return sorted((_job(r) for r in rows), key=lambda j: (j.next_attempt_at, j.id))

        return await self._write(body)

    async def record(self, transition: Transition) -> bool:
        t = transition
        if t.to is JobState.DELIVERED:
            sql = (
                "state = 'delivered', mmsc_id = $3, route = COALESCE($4, route), last_status = $5, last_error = NULL,"
                " updated_at = $6"
            )
            args: tuple[Any, ...] = (t.mmsc_id, t.route, t.status, t.now)
        elif t.to is JobState.QUEUED:
            sql = (
                "state = 'queued', next_attempt_at = $3, last_status = $4, last_error = $5, delay_notified = $6,"
                " updated_at = $7"
            )
            args = (t.at, t.status, _text(t.error), t.delay_notified, t.now)
        elif t.to is JobState.NOTIFIED:
            sql = (
                "state = 'notified', next_attempt_at = $3, mmsc_id = $4, route = COALESCE($5, route), last_status = $6,"
                " last_error = NULL, delay_notified = $7, updated_at = $8"
            )
            args = (t.at, t.mmsc_id, t.route, t.status, t.delay_notified, t.now)
        else:  # FAILED, EXPIRED
            sql = "state = $3, last_status = $4, last_error = $5, updated_at = $6"
            args = (t.to.value, t.status, _text(t.error), t.now)

        # Only the lease holder may finish a job: a worker whose lease ran out and was taken over loses. The
        # change, its line in the timeline and its status callback go in one statement: one round trip.
        n = len(args) + 2
        callback = t.to.value in CALLBACK_EVENTS

        async def body(conn: Connection) -> bool:
            changed = await conn.fetchval(
                f"WITH done AS (UPDATE jobs SET {sql}, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL"
                " WHERE id = $1 AND state = 'leased' AND lease_owner = $2 RETURNING id, message_id, recipient),"
                f" noted AS (INSERT INTO events (job_id, at, what) SELECT id, ${n + 1}, ${n + 2} FROM done),"
                f" called AS ({_CALLBACK_FROM_DONE.format(event=f'${n + 3}', status=f'${n + 4}', now=f'${n + 1}')}"
                f" AND ${n + 5})"
                " SELECT count(*) FROM done",
                t.job_id,
                t.owner,
                *args,
                t.now,
                _text(transition_text(t)),
                t.to.value,
                t.status,
                callback,
            )
            return bool(changed)

        return await self._write(body)

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

        # the change, its timeline line and (for a fetch) its status callback in one statement, as `record`
        async def body(conn: Connection) -> JobState | None:
            changed = await conn.fetchval(
                "WITH done AS (UPDATE jobs SET state = $1, handset = $2, report_allowed = $3, next_attempt_at = $4,"
                " last_status = COALESCE($9, last_status), last_error = COALESCE($10, last_error),"
                f" lease_owner = NULL, lease_until = NULL, updated_at = $5 WHERE id = $6 AND {where}"
                " RETURNING id, message_id, recipient),"
                " noted AS (INSERT INTO events (job_id, at, what) SELECT id, $5, $7 FROM done),"
                f" called AS ({_FETCHED_CALLBACK} AND $8)"
                " SELECT count(*) FROM done",
                state.value,
                event.value,
                report_allowed,
                at,
                now,
                job_id,
                _text(detail or f"the phone: {event.value}"),
                event is Handset.FETCHED,
                status,
                None if detail is None else _text(detail),
            )
            return state if changed else None

        return await self._write(body, wakes=True)

    async def sweep(self, *, before: float) -> int:
        async def body(conn: Connection) -> int:
            # one instance sweeps per round; the others find the lock taken and leave it to it
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", SWEEP_LOCK):
                return 0
            done = await conn.execute(
                "UPDATE messages SET raw = '', mms = '' WHERE length(mms) > 0 AND id IN ("
                " SELECT message_id FROM jobs GROUP BY message_id"
                f" HAVING bool_and(state IN {_FINAL}) AND MAX(updated_at) < $1)",
                before,
            )
            return int(done.split()[-1])

        return await self._write(body)

    async def release(self, *, owner: str) -> int:
        async def body(conn: Connection) -> int:
            done = await conn.execute(
                "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL"
                " WHERE state = 'leased' AND lease_owner = $1",
                owner,
            )
            return int(done.split()[-1])

        return await self._write(body, wakes=True)

    async def requeue(self, job_id: str, *, now: float) -> bool:
        async def body(conn: Connection) -> bool:
            done = await conn.execute(
                "UPDATE jobs SET state = 'queued', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL,"
                " updated_at = $1 WHERE id = $2 AND state IN ('queued', 'leased', 'notified')",
                now,
                job_id,
            )
            if done == "UPDATE 0":
                return False
            await conn.execute(_EVENT, job_id, now, "queued again by an operator")
            return True

        return await self._write(body, wakes=True)

    async def purge(self, job_id: str) -> bool:
        async def body(conn: Connection) -> bool:
            message_id = await conn.fetchval("DELETE FROM jobs WHERE id = $1 RETURNING message_id", job_id)
            await conn.execute("DELETE FROM events WHERE job_id = $1", job_id)
            if message_id is None:
                return False
            await conn.execute(
                "DELETE FROM messages WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE message_id = $1)",
                message_id,
            )
            return True

        return await self._write(body)

    # --- reading -------------------------------------------------------------------------------------------

    async def _one(self, sql: str, *args: Any) -> Job | None:
        async def run(conn: Connection) -> Job | None:
            row = await conn.fetchrow(sql, *args)
            return _job(row) if row else None

        return await self._run(run)

    async def get(self, job_id: str) -> Job | None:
        return await self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)

    async def by_token(self, token: str) -> Job | None:
        return await self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE token = $1", token) if token else None

    async def by_mmsc_id(self, route: str, mmsc_id: str) -> Job | None:
        return await self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE mmsc_id = $1 AND route = $2", mmsc_id, route)

    async def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
        async def run(conn: Connection) -> list[Job]:
            if state is None:
                rows = await conn.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at, id LIMIT $1", limit)
            else:
                rows = await conn.fetch(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY created_at, id LIMIT $2",
                    state.value,
                    limit,
                )
            return [_job(r) for r in rows]

        return await self._run(run)

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage:
        found = await self.messages([message_id], with_raw=with_raw)
        if message_id not in found:
            raise StoreError(f"no message {message_id}")
        return found[message_id]

    async def messages(self, message_ids: Sequence[str], *, with_raw: bool = False) -> dict[str, StoredMessage]:
        raw_column = "raw" if with_raw else "''::bytea AS raw"
        wanted = list(dict.fromkeys(message_ids))

        async def run(conn: Connection) -> dict[str, StoredMessage]:
            rows = await conn.fetch(
                f"SELECT id, mail_from, received_at, envid, ret_full, auto_submitted, subject, {raw_column}, mms,"
                " changes, mail_message_id FROM messages WHERE id = ANY($1::text[])",
                wanted,
            )
            return {
                row["id"]: StoredMessage(
                    id=row["id"],
                    mail_from=row["mail_from"],
                    received_at=row["received_at"],
                    envid=row["envid"],
                    ret_full=row["ret_full"],
                    auto_submitted=row["auto_submitted"],
                    subject=row["subject"],
                    raw=bytes(row["raw"]),
                    mms=bytes(row["mms"]),
                    changes=tuple(row["changes"].split("\n")) if row["changes"] else (),
                    mail_message_id=row["mail_message_id"],
                )
                for row in rows
            }

        return await self._run(run) if wanted else {}

    # --- limits every instance counts together ---------------------------------------------------------------

    async def count_send(self, key: str, *, limit: int, window_s: float, now: float) -> bool:
        async def run(conn: Connection) -> bool:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)
                await conn.execute("DELETE FROM sends WHERE key = $1 AND at <= $2", key, now - window_s)
                if await conn.fetchval("SELECT count(*) FROM sends WHERE key = $1", key) >= limit:
                    return False
                await conn.execute("INSERT INTO sends (key, at) VALUES ($1, $2)", key, now)
                return True

        return await self._run(run)

    async def pace(self, key: str, *, interval_s: float) -> float:
        # PostgreSQL's clock, not each instance's: the slots are one sequence whoever takes them
        async def run(conn: Connection) -> float:
            wait = await conn.fetchval(
                "WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS now)"
                " INSERT INTO paces AS p (key, next_at) SELECT $1, now + $2 FROM clock"
                " ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(p.next_at, (SELECT now FROM clock)) + $2"
                " RETURNING next_at - $2 - (SELECT now FROM clock)",
                key,
                interval_s,
            )
            return max(0.0, float(wait))

        return await self._run(run)

    async def find(self, where: Filter, *, limit: int = 50) -> builtins.list[Listed]:
        clause, found_args = filter_sql(where, lambda n: f"${n}")
        args = [_text(a) if isinstance(a, str) else a for a in found_args]  # searched as it would be stored
        columns = ", ".join("j." + c for c in _JOB_COLUMNS.split(", "))

        async def run(conn: Connection) -> builtins.list[Listed]:
            rows = await conn.fetch(
                f"SELECT {columns}, m.mail_from AS m_from, m.subject AS m_subject, m.mail_message_id AS m_id"
                f" FROM jobs j JOIN messages m ON m.id = j.message_id{clause}"
                f" ORDER BY j.created_at DESC, j.id DESC LIMIT ${len(args) + 1}",
                *args,
                limit,
            )
            return [
                Listed(job=_job(r), mail_from=r["m_from"], subject=r["m_subject"], mail_message_id=r["m_id"])
                for r in rows
            ]

        return await self._run(run)

    async def activity(self, *, since: float) -> dict[str, int]:
        async def run(conn: Connection) -> dict[str, int]:
            rows = await conn.fetch(
                f"SELECT state, count(*) AS n FROM jobs WHERE state IN {_FINAL} AND updated_at >= $1 GROUP BY 1", since
            )
            found = {r["state"]: r["n"] for r in rows}
            found["accepted"] = await conn.fetchval("SELECT count(*) FROM jobs WHERE created_at >= $1", since)
            return found

        return await self._run(run)

    async def cancel(self, job_id: str, *, now: float) -> bool:
        async def body(conn: Connection) -> bool:
            done = await conn.execute(
                "UPDATE jobs SET state = 'failed', last_status = '5.0.0', last_error = 'cancelled by an operator',"
                f" lease_owner = NULL, lease_until = NULL, updated_at = $1 WHERE id = $2 AND state NOT IN {_FINAL}",
                now,
                job_id,
            )
            if done == "UPDATE 0":
                return False
            await conn.execute(_EVENT, job_id, now, "cancelled by an operator")
            return True

        return await self._write(body)

    async def note(self, job_id: str, *, at: float, what: str) -> None:
        async def body(conn: Connection) -> None:
            await conn.execute(_EVENT, job_id, at, _text(what))

        await self._write(body)

    async def events(self, job_id: str) -> builtins.list[tuple[float, str]]:
        async def run(conn: Connection) -> builtins.list[tuple[float, str]]:
            # the first line comes from the job and its message (one write less for every mail taken)
            first = await conn.fetchrow(
                "SELECT j.created_at, m.mail_from FROM jobs j JOIN messages m ON m.id = j.message_id WHERE j.id = $1",
                job_id,
            )
            if first is None:
                return []
            rows = await conn.fetch("SELECT at, what FROM events WHERE job_id = $1 ORDER BY at, seq", job_id)
            head = accepted_event(first["created_at"], first["mail_from"])
            return [head, *((float(r["at"]), str(r["what"])) for r in rows)]

        return await self._run(run)

    # --- the HTTP API's keys and idempotency --------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        async def body(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO api_keys (id, name, digest, scopes, created_at, revoked_at, rate_per_minute,"
                " webhook_secret, status_callback) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                key.id, key.name, key.digest, ",".join(sorted(key.scopes)), key.created_at, key.revoked_at,
                key.rate_per_minute, key.webhook_secret, key.status_callback,
            )  # fmt: skip

        await self._write(body)

    async def key_by_digest(self, digest: str) -> ApiKey | None:
        async def run(conn: Connection) -> ApiKey | None:
            row = await conn.fetchrow(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE digest = $1", digest)
            return _key(row) if row else None

        return await self._run(run)

    async def keys(self) -> builtins.list[ApiKey]:
        async def run(conn: Connection) -> builtins.list[ApiKey]:
            return [_key(r) for r in await conn.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")]

        return await self._run(run)

    async def revoke_key(self, key_id: str, *, now: float) -> bool:
        async def body(conn: Connection) -> bool:
            done = await conn.execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", now, key_id
            )
            return bool(done != "UPDATE 0")

        return await self._write(body)

    async def remembered(self, key_id: str, idempotency_key: str) -> tuple[int, str] | None:
        async def run(conn: Connection) -> tuple[int, str] | None:
            row = await conn.fetchrow(
                "SELECT status, body FROM idempotency WHERE key_id = $1 AND idempotency_key = $2",
                key_id,
                idempotency_key,
            )
            return (int(row["status"]), str(row["body"])) if row else None

        return await self._run(run)

    async def remember(self, key_id: str, idempotency_key: str, *, status: int, body: str, now: float) -> None:
        async def write(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO idempotency (key_id, idempotency_key, status, body, created_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                key_id, idempotency_key, status, body, now,
            )  # fmt: skip

        await self._write(write)

    async def due_webhooks(self, *, now: float, limit: int, lease_s: float) -> builtins.list[Webhook]:
        async def body(conn: Connection) -> builtins.list[Webhook]:
            rows = await conn.fetch(
                "WITH due AS (SELECT id FROM webhooks WHERE done_at IS NULL AND next_at <= $1 ORDER BY id LIMIT $2"
                " FOR UPDATE SKIP LOCKED)"
                " UPDATE webhooks w SET next_at = $3 FROM due WHERE w.id = due.id"
                " RETURNING w.id, w.url, w.body, w.attempts, w.created_at,"
                " (SELECT webhook_secret FROM api_keys k WHERE k.id = w.key_id) AS secret",
                now,
                limit,
                now + lease_s,
            )
            return [
                Webhook(
                    id=r["id"],
                    url=r["url"],
                    body=r["body"],
                    secret=r["secret"] or "",
                    attempts=r["attempts"],
                    created_at=r["created_at"],
                )
                for r in sorted(rows, key=lambda r: int(r["id"]))
            ]

        return await self._write(body)

    async def webhook_done(
        self, webhook_id: int, *, now: float, error: str | None = None, retry_at: float | None = None
    ) -> None:
        async def body(conn: Connection) -> None:
            if retry_at is None:
                await conn.execute(
                    "UPDATE webhooks SET done_at = $1, last_error = $2 WHERE id = $3", now, error, webhook_id
                )
            else:
                await conn.execute(
                    "UPDATE webhooks SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3",
                    retry_at,
                    error,
                    webhook_id,
                )

        await self._write(body)

    async def status(self) -> dict[str, Any]:
        """For `bridge db status`: the schema version and the jobs by state."""

        async def run(conn: Connection) -> dict[str, Any]:
            version = await conn.fetchval("SELECT MAX(version) FROM schema_version")
            counts = {r["state"]: r["n"] for r in await conn.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY 1")}
            oldest = await conn.fetchval(
                "SELECT MIN(next_attempt_at) FROM jobs WHERE state IN ('queued', 'notified', 'retrieved')"
                " AND next_attempt_at <= $1",
                time.time(),
            )
            return {"store": "postgresql", "schema_version": version, "jobs": counts, "oldest_due_at": oldest}

        return await self._run(run)

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        await self._pool.close()

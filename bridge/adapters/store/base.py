"""The `JobStore` seam: where accepted mail waits until every recipient reaches a final state.

Each caller sees the store through its role's Protocol (`IntakeStore`, `QueueStore`, `HandsetStore`,
`OperatorStore`); `JobStore` is all of them. A worker records what it decided with one typed `Transition`.
States and transitions (the store enforces them; `bridge.pipeline` decides which one to take):

    put ───────────▶ queued
    queued ──lease──▶ leased            (lease_until = now + lease_s; a crashed worker's lease runs out)
    leased ──lease (expired) ──▶ leased  (another worker takes it over: recovery)
    leased ──record(DELIVERED)──▶ delivered   (final)
    leased ──record(QUEUED)──▶ queued         (a retry: next_attempt_at later, attempts + 1)
    leased ──record(FAILED)──▶ failed         (final, a DSN went or goes out)
    leased ──record(EXPIRED)──▶ expired       (final, DSN 4.4.7)
    leased ──record(NOTIFIED)──▶ notified     (the MMSC took it; due again at the next re-notification)
    leased ──release──▶ queued           (graceful shutdown)
    notified, retrieved ──lease (due)──▶ leased
    notified, leased ──handset──▶ retrieved / notified  (the phone fetched or answered; no lease needed:
                                          the phone's word wins over a worker holding the job)
    any non-final ──requeue──▶ queued    (operator: `bridge queue retry`)
    any ──purge──▶ (gone)                (operator: `bridge queue purge`)

`put` returns only once the message and its jobs are durable (fsync); intake answers 250 after that.
`sweep` empties the stored mail and MMS of messages whose jobs have all been final for a while (the content
is served until then); the job rows stay for `bridge queue`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge import ids
from bridge.model import MSISDN, ApiKey, Conversation, Handset, Job, JobState, Listed, Notify, StoredMessage, Webhook


def new_token() -> str:
    """128 random bits in 22 URL-safe characters: the content URL's secret."""
    return ids.token_urlsafe(16)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    id: str
    recipient: MSISDN
    notify: frozenset[Notify]
    rcpt_to: str
    original_recipient: str | None
    expires_at: float
    token: str = field(default_factory=new_token)
    #: the same key on a job created after `dedup_after` means the same mail again: not queued twice
    dedup_key: str | None = None
    dedup_after: float = 0.0


#: where `record` may take a leased job
RECORDED_STATES = frozenset({JobState.DELIVERED, JobState.QUEUED, JobState.NOTIFIED, JobState.FAILED, JobState.EXPIRED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """What a worker decided for a job it holds: the state it goes to and what is recorded with it.

    - DELIVERED (complete): `mmsc_id`, `route`; status 2.0.0.
    - QUEUED (retry): due again `at`; `status`, `error`, `delay_notified`.
    - NOTIFIED (wait: the MMSC took it): due again `at` (the next re-notification); `mmsc_id`, `route`, `status`.
    - FAILED, EXPIRED (final): `status`, `error`.
    Every one counts an attempt and ends the lease. Only the lease holder (`owner`) may record: a worker whose
    lease ran out and was taken over changes nothing.
    """

    job_id: str
    owner: str
    to: JobState
    now: float
    status: str = "2.0.0"
    error: str | None = None
    at: float | None = None
    mmsc_id: str | None = None
    route: str | None = None
    delay_notified: bool = False

    def __post_init__(self) -> None:
        if self.to not in RECORDED_STATES:
            raise ValueError(f"a worker records {sorted(RECORDED_STATES)}, not {self.to}")
        if self.to in (JobState.QUEUED, JobState.NOTIFIED) and self.at is None:
            raise ValueError(f"{self.to} needs the time the job is due again")


class LimitStore(Protocol):
    """Limits counted where every instance sharing the store counts them together."""

    async def count_send(self, key: str, *, limit: int, window_s: float, now: float) -> bool:
        """True, and counted, when fewer than `limit` sends were counted for `key` in the `window_s` before `now`."""
        ...

    async def pace(self, key: str, *, interval_s: float) -> float:
        """Take the next slot of `key`, slots being `interval_s` apart: the seconds to wait before it comes."""
        ...


class IntakeStore(LimitStore, Protocol):
    """What intake needs: a sender's rate, and one durable commit of a message and its jobs."""

    async def put(self, message: StoredMessage, jobs: Sequence[NewJob]) -> dict[str, str]:
        """Commit `message` and those of `jobs` not queued already; the others (a job whose `dedup_key` a job
        created after its `dedup_after` has), mapped to the job already queued. With none left, the message is
        not stored either."""
        ...


#: the Message-IDs a conversation keeps (References of a reply)
CONVERSATION_IDS = 10


def merged_ids(old: str, new: str | None) -> str:
    """A conversation's Message-IDs (space-separated, oldest first) with `new` added, the last few kept."""
    ids = [i for i in old.split() if i != new]
    if new:
        ids.append(new)
    return " ".join(ids[-CONVERSATION_IDS:])


def conversation_of(message: StoredMessage, jobs: Sequence[NewJob]) -> list[tuple[str, str]]:
    """The (number, address) pairs a committed message starts or continues: none for a bounce (no sender) or an
    automatic mail (Auto-Submitted), so that a phone's reply never goes back into a loop."""
    if not message.mail_from or message.auto_submitted:
        return []
    return sorted({(job.recipient.e164, message.mail_from.lower()) for job in jobs})


class ConversationStore(Protocol):
    """The reply path: who last wrote to a number (recorded by `put` for every mail with a sender)."""

    async def conversation(self, number: str, *, since: float) -> Conversation | None:
        """The latest conversation with `number` whose last mail came at `since` or later."""
        ...


class QueueStore(Protocol):
    """What the delivery worker needs: lease due jobs, read their messages, record what happened (each recorded
    transition, the phone's word and operators' actions also go into the job's timeline, `events`)."""

    async def note(self, job_id: str, *, at: float, what: str) -> None:
        """Add a line to the job's timeline (a report sent, say)."""
        ...

    async def lease(self, *, owner: str, now: float, lease_s: float, limit: int) -> list[Job]: ...

    async def record(self, transition: Transition) -> bool:
        """True when it was recorded; False when `transition.owner` no longer holds the job (its lease ran out
        and another worker took it, or the phone's word came first): nothing changed."""
        ...

    async def release(self, *, owner: str) -> int: ...

    async def sweep(self, *, before: float) -> int: ...

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage:
        """The stored message; `with_raw=False` leaves the mail itself out (`raw` is empty) when only the MMS is
        needed, so that delivering a large mail does not read it back."""
        ...

    async def messages(self, message_ids: Sequence[str], *, with_raw: bool = False) -> dict[str, StoredMessage]:
        """Several messages in one go (the worker's batch); those not stored are left out."""
        ...


class HandsetStore(Protocol):
    """What the phones' and MMSCs' side needs (the builtin MMSC's web surface, the MM7 endpoint): find a job by
    its content token or its MMSC's message id, read its message, record the phone's word."""

    async def by_token(self, token: str) -> Job | None: ...

    async def by_mmsc_id(self, route: str, mmsc_id: str) -> Job | None: ...

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
        """Record what the phone (or the peer that reached it) said about a job; `status` and `detail` (the RFC 3463
        status and the words of a failure a peer reported) become the job's last status and error, and `detail`
        its timeline line. The new state, or None when the job was not in a state the event may change."""

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage: ...

    async def note(self, job_id: str, *, at: float, what: str) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """What operators' lists filter on; every field left None matches all. Newest first; `before` is the paging
    cursor: the (created_at, id) of the last job of the previous page."""

    state: JobState | None = None
    route: str | None = None
    #: digits the recipient's number ends with
    number: str | None = None
    #: part of the sender's address, any case
    sender: str | None = None
    since: float | None = None
    until: float | None = None
    #: a job id, a queue id, or the mail's Message-ID (with or without its angle brackets)
    search: str | None = None
    before: tuple[float, str] | None = None


class OperatorStore(Protocol):
    """What operators' commands need (`bridge queue`, the console, later the API)."""

    async def find(self, where: Filter, *, limit: int = 50) -> list[Listed]: ...

    async def events(self, job_id: str) -> list[tuple[float, str]]:
        """The job's timeline, oldest first."""
        ...

    async def activity(self, *, since: float) -> dict[str, int]:
        """Since `since`: jobs accepted (`accepted`), and jobs that reached each final state (by state)."""
        ...

    async def cancel(self, job_id: str, *, now: float) -> bool:
        """A job not final yet ends `failed` (5.0.0, cancelled by an operator); False when it was final or unknown."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]: ...

    async def requeue(self, job_id: str, *, now: float) -> bool: ...

    async def purge(self, job_id: str) -> bool: ...

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage: ...


class ApiStore(Protocol):
    """What the HTTP API needs besides intake and operators: its keys, and the answers it gave to an
    `Idempotency-Key`."""

    async def add_key(self, key: ApiKey) -> None: ...

    async def key_by_digest(self, digest: str) -> ApiKey | None: ...

    async def keys(self) -> builtins.list[ApiKey]: ...

    async def revoke_key(self, key_id: str, *, now: float) -> bool: ...

    async def remembered(self, key_id: str, idempotency_key: str) -> tuple[int, str] | None:
        """The HTTP status and body given the first time this key sent this `Idempotency-Key`."""
        ...

    async def remember(self, key_id: str, idempotency_key: str, *, status: int, body: str, now: float) -> None: ...

    async def due_webhooks(self, *, now: float, limit: int, lease_s: float) -> builtins.list[Webhook]:
        """Status callbacks due now, taken for `lease_s` (another sender does not take them meanwhile). The store
        queues one with each recorded transition and each of the phone's answers of a job whose message has a
        `status_callback`, in the same transaction."""
        ...

    async def webhook_done(self, webhook_id: int, *, now: float, error: str | None = None, retry_at: float | None = None
                           ) -> None:  # fmt: skip
        """Posted (no `retry_at`), or to be posted again at `retry_at` after `error`."""
        ...


class JobStore(IntakeStore, QueueStore, HandsetStore, OperatorStore, LimitStore, ApiStore, ConversationStore, Protocol):
    """A whole store: every role, waking workers, and closing it."""

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake` when another process (another bridge on the same database) commits work for the
        workers; a store only one process uses has nothing to watch."""
        ...

    async def status(self) -> dict[str, Any]:
        """For `bridge db status` and `/metrics`: the kind of store, its schema version, the jobs by state
        (`jobs`), and when the job due longest became due (`oldest_due_at`, None when none is due)."""
        ...

    #: told how long each commit took
    observe_commit: Callable[[float], None]

    async def close(self) -> None: ...


def filter_sql(where: Filter, placeholder: Callable[[int], str]) -> tuple[str, list[Any]]:
    """The WHERE clause (over `jobs j JOIN messages m`) and its arguments for `where`, newest first, written
    once for both stores; `placeholder(n)` is the store's n-th parameter mark (`?` or `$n`)."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return placeholder(len(args))

    def like(text: str) -> str:
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped

    if where.state is not None:
        clauses.append(f"j.state = {arg(where.state.value)}")
    if where.route:
        clauses.append(f"j.route = {arg(where.route)}")
    if where.number:
        digits = "".join(c for c in where.number if c.isdigit())
        clauses.append(f"j.recipient LIKE {arg('%' + like(digits))} ESCAPE '\\'")
    if where.sender:
        clauses.append(f"lower(m.mail_from) LIKE {arg('%' + like(where.sender) + '%')} ESCAPE '\\'")
    if where.since is not None:
        clauses.append(f"j.created_at >= {arg(where.since)}")
    if where.until is not None:
        clauses.append(f"j.created_at < {arg(where.until)}")
    if where.search:
        text = where.search.strip()
        bare = text.strip("<>")
        clauses.append(
            f"(j.id = {arg(text)} OR j.message_id = {arg(text)} OR m.mail_message_id = {arg('<' + bare + '>')}"
            f" OR m.mail_message_id = {arg(bare)})"
        )
    if where.before is not None:
        at, job_id = where.before
        first, second = arg(at), arg(at)
        clauses.append(f"(j.created_at < {first} OR (j.created_at = {second} AND j.id < {arg(job_id)}))")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def accepted_event(at: float, mail_from: str) -> tuple[float, str]:
    """The first line of every job's timeline: when its mail was taken, and from whom."""
    return float(at), f"accepted (250) from <{mail_from}>"


def transition_text(t: Transition) -> str:
    """A recorded transition as the job's timeline says it."""
    text = f"{t.to.value} {t.status}"
    if t.route:
        text += f" via {t.route}"
    if t.mmsc_id and t.to in (JobState.DELIVERED, JobState.NOTIFIED):
        text += f" ({t.mmsc_id})"
    if t.error:
        text += f": {t.error}"
    return text


def handset_rule(event: Handset) -> tuple[str, JobState]:
    """Which jobs the phone's `event` may change (an SQL condition over `jobs`) and the state it leaves them in.
    The fetch moves the job to `retrieved`; the phone's answers make it due for the worker to decide. A fetch never
    overrides an acknowledgement that came first."""
    if event is Handset.FETCHED:
        return "state IN ('notified', 'leased') AND (handset IS NULL OR handset != 'acknowledged')", JobState.RETRIEVED
    if event is Handset.ACKNOWLEDGED:
        return "state IN ('notified', 'leased', 'retrieved')", JobState.RETRIEVED
    return "state IN ('notified', 'leased')", JobState.NOTIFIED


#: the job states a status callback reports (and the phone's fetch, as "fetched")
CALLBACK_EVENTS = frozenset({"notified", "fetched", "delivered", "failed", "expired"})


def callback_body(*, event: str, job_id: str, message_id: str, to: str, status: str | None, at: float) -> str:
    """The JSON a status callback posts."""
    import json

    return json.dumps(
        {"event": event, "message_id": message_id, "job_id": job_id, "to": to, "status": status, "at": at},
        sort_keys=True,
    )

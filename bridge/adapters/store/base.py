"""The `JobStore` seam: where accepted mail waits until every recipient reaches a final state.

States and transitions (the store enforces them; `bridge.pipeline` decides which one to take):

    put ───────────▶ queued
    queued ──lease──▶ leased            (lease_until = now + lease_s; a crashed worker's lease runs out)
    leased ──lease (expired) ──▶ leased  (another worker takes it over: recovery)
    leased ──complete──▶ delivered       (final)
    leased ──retry──▶ queued             (next_attempt_at later, attempts + 1)
    leased ──fail──▶ failed              (final, a DSN went or goes out)
    leased ──expire──▶ expired           (final, DSN 4.4.7)
    leased ──release──▶ queued           (graceful shutdown)
    leased ──wait──▶ notified            (the MMSC took it; due again at the next re-notification)
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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bridge import ids
from bridge.model import MSISDN, Handset, Job, JobState, Notify, StoredMessage


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


class JobStore(Protocol):
    async def put(self, message: StoredMessage, jobs: Sequence[NewJob]) -> None: ...

    async def lease(self, *, owner: str, now: float, lease_s: float, limit: int) -> list[Job]: ...

    async def complete(
        self, job_id: str, *, owner: str, now: float, mmsc_id: str | None, route: str | None = None
    ) -> None: ...

    async def retry(
        self, job_id: str, *, owner: str, now: float, at: float, status: str, error: str, delay_notified: bool
    ) -> None: ...

    async def fail(self, job_id: str, *, owner: str, now: float, status: str, error: str) -> None: ...

    async def expire(self, job_id: str, *, owner: str, now: float, status: str, error: str) -> None: ...

    async def wait(
        self,
        job_id: str,
        *,
        owner: str,
        now: float,
        at: float,
        mmsc_id: str | None,
        status: str,
        delay_notified: bool,
        route: str | None = None,
    ) -> None: ...

    async def handset(
        self, job_id: str, *, event: Handset, now: float, at: float, report_allowed: bool
    ) -> JobState | None: ...

    async def release(self, *, owner: str) -> int: ...

    async def requeue(self, job_id: str, *, now: float) -> bool: ...

    async def purge(self, job_id: str) -> bool: ...

    async def sweep(self, *, before: float) -> int: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def by_token(self, token: str) -> Job | None: ...

    async def by_mmsc_id(self, route: str, mmsc_id: str) -> Job | None: ...

    async def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]: ...

    async def message(self, message_id: str, *, with_raw: bool = True) -> StoredMessage:
        """The stored message; `with_raw=False` leaves the mail itself out (`raw` is empty) when only the MMS is
        needed, so that delivering a large mail does not read it back."""
        ...

    async def messages(self, message_ids: Sequence[str], *, with_raw: bool = False) -> dict[str, StoredMessage]:
        """Several messages in one go (the worker's batch); those not stored are left out."""
        ...

    async def close(self) -> None: ...

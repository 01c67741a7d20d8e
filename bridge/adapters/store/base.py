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
    any non-final ──requeue──▶ queued    (operator: `bridge queue retry`)
    any ──purge──▶ (gone)                (operator: `bridge queue purge`)

`put` returns only once the message and its jobs are durable (fsync); intake answers 250 after that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.model import MSISDN, Job, JobState, Notify, StoredMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    id: str
    recipient: MSISDN
    notify: frozenset[Notify]
    rcpt_to: str
    original_recipient: str | None
    expires_at: float


class JobStore(Protocol):
    async def put(self, message: StoredMessage, jobs: Sequence[NewJob]) -> None: ...

    async def lease(self, *, owner: str, now: float, lease_s: float, limit: int) -> list[Job]: ...

    async def complete(self, job_id: str, *, owner: str, now: float, mmsc_id: str | None) -> None: ...

    async def retry(
        self, job_id: str, *, owner: str, now: float, at: float, status: str, error: str, delay_notified: bool
    ) -> None: ...

    async def fail(self, job_id: str, *, owner: str, now: float, status: str, error: str) -> None: ...

    async def expire(self, job_id: str, *, owner: str, now: float, status: str, error: str) -> None: ...

    async def release(self, *, owner: str) -> int: ...

    async def requeue(self, job_id: str, *, now: float) -> bool: ...

    async def purge(self, job_id: str) -> bool: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def list(self, *, state: JobState | None = None, limit: int = 100) -> list[Job]: ...

    async def message(self, message_id: str) -> StoredMessage: ...

    async def close(self) -> None: ...

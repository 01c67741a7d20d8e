"""The `Route` seam: how a job's MMS reaches a phone (the builtin MMSC, or an operator's over MM7/EAIF/MM1).

`deliver` is idempotent for one job (the job id is the Transaction-Id): delivering a job again after a crash
must not give the phone two messages. It returns a `Delivery` — done, or taken by the MMSC and pending the
phone's confirmation, in which case the worker calls `deliver` again at the next point of the re-notification
schedule or as soon as the phone answers — or raises `TemporaryFailure` / `PermanentFailure` with the RFC 3463
status a report would carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge.model import Job, StoredMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    mmsc_id: str | None
    #: the MMSC has the message but the phone has not confirmed it yet
    pending: bool = False
    status: str = "2.0.0"
    detail: str = "delivered"
    #: which route delivered it (set by the router; pending jobs come back to it)
    route: str | None = None


class Route(Protocol):
    name: str

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery: ...

    async def close(self) -> None:
        """Let go of connections (HTTP clients); the route is not used afterwards."""

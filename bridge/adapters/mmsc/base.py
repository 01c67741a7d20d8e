"""The `Route` seam: how a job's MMS reaches a phone (the builtin MMSC, or an operator's over MM7/EAIF/MM1).

`deliver` is idempotent for one job (the job id is the Transaction-Id): delivering a job again after a crash
must not give the phone two messages. It returns the MMSC's message id, or raises `TemporaryFailure` /
`PermanentFailure` with the RFC 3463 status a report would carry.
"""

from __future__ import annotations

from typing import Protocol

from bridge.model import Job, StoredMessage


class Route(Protocol):
    name: str

    async def deliver(self, job: Job, message: StoredMessage) -> str | None: ...

"""The `PushSender` seam: how a WAP Push (already cut into SMS user data) reaches a phone — SMPP, Kannel, or the
outbox folder. `send` returns the transport's message id, or raises `TemporaryFailure` / `PermanentFailure`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bridge.model import MSISDN


class PushSender(Protocol):
    async def start(self) -> None:
        """Connect, bind, whatever the transport needs before the first `send` (returns at once)."""

    async def send(self, *, to: MSISDN, user_data: Sequence[bytes]) -> str | None: ...

    async def close(self) -> None: ...

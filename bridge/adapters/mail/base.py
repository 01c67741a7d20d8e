"""The `MailSender` seam: how reports (DSNs) leave the bridge."""

from __future__ import annotations

from typing import Protocol


class MailSender(Protocol):
    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        """Hand one mail over; raise `TemporaryFailure` when it could not be handed over now."""
        ...

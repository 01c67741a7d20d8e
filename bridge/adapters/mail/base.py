"""The `MailSender` seam: how reports (DSNs) leave the bridge."""

from __future__ import annotations

import re
from typing import Protocol

from bridge.errors import PermanentFailure

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_addresses(*addresses: str) -> None:
    """Raise `PermanentFailure` (5.1.3) for an address with a control character: one could end a header or an
    SMTP command early. Intake refuses them; this keeps one stored before that rule from going out."""
    for address in addresses:
        if _CONTROL.search(address):
            raise PermanentFailure(f"address {address!r} has control characters", "5.1.3")


class MailSender(Protocol):
    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        """Hand one mail over; raise `TemporaryFailure` when it could not be handed over now, `PermanentFailure`
        when it never can be (the address is refused for good)."""
        ...

"""The `PushSender` seam: how a WAP Push reaches a phone — SMPP, Kannel, or the outbox folder. `send` gets both
forms of the notification: `user_data`, the push already cut into SMS (TP-User-Data with its UDH), which SMS
transports submit as they are, and `pdu`, the bare m-notification-ind, for push gateways that build the WSP push
themselves (a PPG). It returns the transport's message id, or raises `TemporaryFailure` / `PermanentFailure`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bridge.model import MSISDN


class PushSender(Protocol):
    #: octets the transport adds to the WSP push beyond ours (a PPG that builds the push itself), so that the
    #: notification is chosen to fit one SMS as the phone receives it
    push_overhead: int

    async def start(self) -> None:
        """Connect, bind, whatever the transport needs before the first `send` (returns at once)."""

    async def send(self, *, to: MSISDN, user_data: Sequence[bytes], pdu: bytes) -> str | None: ...

    async def send_text(self, *, to: MSISDN, text: str) -> str | None:
        """One plain SMS (an SMS with a link when MMS is not possible): GSM 7-bit when the text is in its
        alphabet, else UCS-2; the caller keeps it to one SMS (160 or 70 characters)."""
        ...

    async def close(self) -> None: ...

    async def ready(self) -> str | None:
        """None when a notification could go now (bound, the gateway answers, the folder is writable); else why."""
        ...

"""WAP Pushes written to a folder, one file per SMS (the embedded default: no SMS leaves the machine).

Each file is one SMS's TP-User-Data (UDH included), named `<E.164>-<push id>-<n>of<total>.ud`, which
`bridge decode` reads (give it all the files of one push, in any order).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from bridge.adapters.files import writable, write_atomically
from bridge.errors import TemporaryFailure
from bridge.model import MSISDN


class OutboxPushSender:
    push_overhead = 0

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ready(self) -> str | None:
        return writable(self.folder)

    async def send(self, *, to: MSISDN, user_data: Sequence[bytes], pdu: bytes = b"") -> str | None:
        push_id = f"{time.time_ns()}{secrets.token_hex(2)}"
        total = len(user_data)

        def write() -> None:
            for n, ud in enumerate(user_data, 1):
                write_atomically(self.folder / f"{to.e164}-{push_id}-{n}of{total}.ud", ud)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise TemporaryFailure(f"sms outbox {self.folder}: {exc.strerror}", "4.3.0") from exc
        return push_id

    async def send_text(self, *, to: MSISDN, text: str) -> str | None:
        sms_id = f"{time.time_ns()}{secrets.token_hex(2)}"
        try:
            await asyncio.to_thread(write_atomically, self.folder / f"{to.e164}-{sms_id}.txt", text.encode())
        except OSError as exc:
            raise TemporaryFailure(f"sms outbox {self.folder}: {exc.strerror}", "4.3.0") from exc
        return sms_id

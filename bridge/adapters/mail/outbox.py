"""Reports written to a folder, one `.eml` file each (the embedded default: nothing leaves the machine).

Each file starts with `Return-Path: <envelope sender>` and `X-Envelope-To:` so that the envelope is not lost.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

from bridge.adapters.files import write_atomically
from bridge.adapters.mail.base import check_addresses
from bridge.errors import TemporaryFailure


class OutboxMailSender:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, *, mail_from: str, to: str, data: bytes) -> None:
        check_addresses(mail_from, to)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: <{to}>\r\n".encode()
        try:
            await asyncio.to_thread(write_atomically, self.folder / name, envelope + data)
        except OSError as exc:
            raise TemporaryFailure(f"outbox {self.folder}: {exc.strerror}", "4.3.0") from exc

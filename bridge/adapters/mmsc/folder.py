"""A route that records each delivery as a file: `<folder>/<job id>.mms`, the m-send-req addressed to the
recipient with the job id as Transaction-Id. For tests and dry runs until a real MMSC route is configured;
delivering a job twice replaces its file, so it stays delivered once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.adapters.files import writable, write_atomically
from bridge.adapters.mmsc.base import Delivery
from bridge.codec.mms import readdress
from bridge.errors import DecodeError, PermanentFailure, TemporaryFailure
from bridge.model import Job, StoredMessage


class FolderRoute:
    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def close(self) -> None:
        pass

    async def ready(self) -> str | None:
        return writable(self.folder)

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        try:
            data = readdress(message.mms, transaction_id=job.id, to=(f"{job.recipient.e164}/TYPE=PLMN",))
        except DecodeError as exc:
            raise PermanentFailure(f"stored MMS unreadable: {exc}", "5.6.0") from exc
        try:
            await asyncio.to_thread(write_atomically, self.folder / f"{job.id}.mms", data)
        except OSError as exc:
            raise TemporaryFailure(f"folder {self.folder}: {exc.strerror}", "4.3.0") from exc
        return Delivery(mmsc_id=job.id)

"""The EAIF route (Nokia MMSC External Application Interface): the binary m-send-req POSTed over HTTP.

Headers, as Nokia's EAIF and Mbuni use them: `X-NOKIA-MMSC-To` (the number), `X-NOKIA-MMSC-From`,
`X-NOKIA-MMSC-Message-Type: MultiMediaMessage`, `X-NOKIA-MMSC-Version`, `X-NOKIA-MMSC-Message-Id` (the job id,
so a repeat after a crash is recognisable). Any 2xx answer (usually 204) is success, with the MMSC's message id
in `X-NOKIA-MMSC-Message-Id` when it gives one; other answers are mapped as `bridge.adapters.http` says.
EAIF has no delivery report of ours to wait for here: success is delivery to the MMSC ("relayed").
"""

from __future__ import annotations

import httpx

from bridge.adapters.http import client, post, reachable, status_failure
from bridge.adapters.mmsc.base import Delivery
from bridge.codec.mms import MMS_MEDIA_TYPE, readdress
from bridge.config import EAIFSettings
from bridge.errors import DecodeError, PermanentFailure
from bridge.model import Job, StoredMessage


class EAIFRoute:
    def __init__(
        self, settings: EAIFSettings, *, name: str = "eaif", transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        s = settings
        self.name = name
        self.url = s.url
        self.version = s.version
        self.sender = s.sender_address
        self.http = client(
            timeout_s=s.timeout_s, username=s.username, password=s.password, ca_file=s.ca_file, transport=transport
        )

    async def ready(self) -> str | None:
        return await reachable(self.url)

    async def close(self) -> None:
        await self.http.aclose()

    def build(self, job: Job, message: StoredMessage) -> tuple[dict[str, str], bytes]:
        try:
            body = readdress(message.mms, transaction_id=job.id, to=(f"{job.recipient.e164}/TYPE=PLMN",))
        except DecodeError as exc:
            raise PermanentFailure(f"stored MMS unreadable: {exc}", "5.6.0") from exc
        headers = {
            "Content-Type": MMS_MEDIA_TYPE,
            "X-NOKIA-MMSC-To": job.recipient.e164,
            "X-NOKIA-MMSC-From": self.sender or message.mail_from or "anon@anon",
            "X-NOKIA-MMSC-Message-Type": "MultiMediaMessage",
            "X-NOKIA-MMSC-Version": self.version,
            "X-NOKIA-MMSC-Message-Id": job.id,
        }
        return headers, body

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        headers, body = self.build(job, message)
        where = f"MMSC {self.name} (EAIF)"
        response = await post(self.http, where, self.url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise status_failure(where, response)
        message_id = response.headers.get("X-NOKIA-MMSC-Message-Id") or job.id
        return Delivery(mmsc_id=message_id, detail=f"relayed: {where} answered HTTP {response.status_code}")

"""The MM1 route: submitting as a handset does (OMA-MMS-CTR 1.3, MM1_submit): the m-send-req POSTed to the
MMSC's URL, through the operator's WAP gateway as an HTTP proxy when one is configured; the m-send-conf read.

X-Mms-Response-Status (OMA-MMS-ENC 7.3.48) decides: Ok is success ("relayed"), with the MMSC's Message-ID; the
transient range 0xC0-0xDF and Error-network-problem (0x86, MMS 1.0) are temporary; the permanent range
0xE0-0xFF and the other MMS 1.0 errors (0x81-0x88) are permanent, Sending-address-unresolved as 5.1.1 and
Content-not-accepted / Message-format-corrupt as 5.6.0.
"""

from __future__ import annotations

import httpx

from bridge.adapters.http import client, post, reachable, status_failure
from bridge.adapters.mmsc.base import Delivery
from bridge.codec.mms import MMS_MEDIA_TYPE, ResponseStatus, SendConf, decode_pdu, readdress
from bridge.config import MM1Settings
from bridge.errors import DecodeError, PermanentFailure, TemporaryFailure, Verdict, failure
from bridge.model import Job, StoredMessage

_ADDRESS = {
    ResponseStatus.ERROR_SENDING_ADDRESS_UNRESOLVED,
    ResponseStatus.ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED,
}
_CONTENT = {
    ResponseStatus.ERROR_MESSAGE_FORMAT_CORRUPT,
    ResponseStatus.ERROR_CONTENT_NOT_ACCEPTED,
    ResponseStatus.ERROR_UNSUPPORTED_MESSAGE,
    ResponseStatus.ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT,
    ResponseStatus.ERROR_PERMANENT_CONTENT_NOT_ACCEPTED,
}


def response_verdict(status: int) -> tuple[Verdict, str]:
    """The verdict and RFC 3463 status of an X-Mms-Response-Status."""
    if status == ResponseStatus.OK:
        return Verdict.SUCCESS, "2.0.0"
    if 0xC0 <= status <= 0xDF or status == ResponseStatus.ERROR_NETWORK_PROBLEM:
        return Verdict.TEMPORARY, "4.4.2" if status in (0xC3, ResponseStatus.ERROR_NETWORK_PROBLEM) else "4.3.0"
    if status in _ADDRESS:
        return Verdict.PERMANENT, "5.1.1"
    if status in _CONTENT:
        return Verdict.PERMANENT, "5.6.0"
    return Verdict.PERMANENT, "5.3.0"


class MM1Route:
    def __init__(
        self, settings: MM1Settings, *, name: str = "mm1", transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        s = settings
        self.name = name
        self.url = s.url
        self.http = client(
            timeout_s=s.timeout_s,
            username=s.username,
            password=s.password,
            ca_file=s.ca_file,
            proxy=s.proxy,
            transport=transport,
        )

    async def ready(self) -> str | None:
        return await reachable(self.url)

    async def close(self) -> None:
        await self.http.aclose()

    def build(self, job: Job, message: StoredMessage) -> bytes:
        try:
            # as a handset: From is the insert-address token, the MMSC puts in the subscriber's number
            return readdress(
                message.mms, transaction_id=job.id, to=(f"{job.recipient.e164}/TYPE=PLMN",), insert_sender=True
            )
        except DecodeError as exc:
            raise PermanentFailure(f"stored MMS unreadable: {exc}", "5.6.0") from exc

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        where = f"MMSC {self.name} (MM1)"
        body = self.build(job, message)
        response = await post(
            self.http, where, self.url, content=body, headers={"Content-Type": MMS_MEDIA_TYPE, "Accept": MMS_MEDIA_TYPE}
        )
        if response.status_code != 200:
            raise status_failure(where, response)
        try:
            conf = decode_pdu(response.content)
        except DecodeError as exc:
            raise TemporaryFailure(f"{where}: the answer is not an MMS PDU ({exc})", "4.4.2") from exc
        if not isinstance(conf, SendConf):
            raise TemporaryFailure(f"{where}: expected m-send-conf, got {type(conf).__name__}", "4.4.2")
        verdict, status = response_verdict(int(conf.response_status))
        name = (
            ResponseStatus(conf.response_status).name
            if conf.response_status in set(ResponseStatus)
            else hex(conf.response_status)
        )
        detail = f"{where}: {name}" + (f" ({conf.response_text})" if conf.response_text else "")
        if verdict is Verdict.SUCCESS:
            return Delivery(mmsc_id=conf.message_id or job.id, detail=f"relayed: {detail}")
        raise failure(verdict, detail, status)

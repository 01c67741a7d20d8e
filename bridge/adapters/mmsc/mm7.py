"""The MM7 route (3GPP TS 23.140, VASP side): each job is one SubmitReq to the operator's MMSC.

The request is built by `bridge.codec.mm7` from the stored m-send-req (its parts, SMIL first), with the job id as
TransactionID, so that a SubmitReq sent again after a crash is recognisable as the same one. The answer decides:
SubmitRsp with a success code — the MMSC has it; with `delivery_report` set the job then waits (state
`notified`) for the MMSC's DeliveryReportReq, which the web side records on the job, else it is delivered;
another status code, a SOAP Fault or HTTP trouble — the verdict of `bridge.codec.mm7.STATUS_CODES` or of
`bridge.adapters.http`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from bridge.adapters.http import client, post, reachable, status_failure
from bridge.adapters.mmsc.base import PENDING_STATUS, Delivery, handset_outcome, stored_request, unknown_outcome
from bridge.codec import mm7
from bridge.codec.mms import Priority, YesNo
from bridge.config import MM7Settings
from bridge.errors import DecodeError, TemporaryFailure, UnknownOutcome, Verdict, failure
from bridge.model import Job, StoredMessage

log = logging.getLogger("bridge.mm7")

_PRIORITIES = {Priority.LOW: "Low", Priority.NORMAL: "Normal", Priority.HIGH: "High"}


class MM7Route:
    def __init__(
        self,
        settings: MM7Settings,
        *,
        name: str = "mm7",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.http = client(
            timeout_s=settings.timeout_s,
            username=settings.username,
            password=settings.password,
            ca_file=settings.ca_file,
            transport=transport,
        )

    async def ready(self) -> str | None:
        return await reachable(self.settings.url)

    async def close(self) -> None:
        await self.http.aclose()

    def build(self, job: Job, message: StoredMessage) -> tuple[str, bytes]:
        """The Content-Type and body of the job's SubmitReq."""
        s = self.settings
        request = stored_request(message.mms)
        sender = s.sender_address or (request.sender if isinstance(request.sender, str) else "")
        submit = mm7.SubmitReq(
            transaction_id=job.id,
            release=s.release,
            mm7_version=s.mm7_version,
            recipients=(job.recipient.e164,),
            vasp_id=s.vasp_id,
            vas_id=s.vas_id,
            sender_address=sender,
            service_code=s.service_code,
            timestamp=datetime.fromtimestamp(int(message.received_at), UTC),
            expiry=timedelta(seconds=max(60, int(job.expires_at - self.clock()))),
            delivery_report=s.delivery_report,
            read_reply=request.read_report == YesNo.YES,
            priority=_PRIORITIES.get(Priority(request.priority), "") if request.priority in set(Priority) else "",
            subject=request.subject or "",
            allow_adaptations=s.allow_adaptations,
        )
        tag = secrets.token_hex(6)
        return mm7.encode_submit_req(
            submit,
            request.parts,
            boundary=f"mm7-{tag}",
            envelope_id=f"soap-{tag}@mms-bridge",
            content_id=f"content-{tag}@mms-bridge",
        )

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        reported = handset_outcome(job, mmsc_id=job.mmsc_id, via=" (MMSC delivery report)")
        if reported is not None:
            return reported
        if job.mmsc_id is not None and job.route == self.name:
            return Delivery(
                mmsc_id=job.mmsc_id, pending=True, status=PENDING_STATUS, detail="at the MMSC; no delivery report yet"
            )
        content_type, body = self.build(job, message)
        where = f"MMSC {self.name}"
        try:
            response = await post(
                self.http,
                where,
                self.settings.url,
                content=body,
                headers={"Content-Type": content_type, "SOAPAction": '""'},
            )
        except UnknownOutcome as exc:
            s = self.settings
            raise unknown_outcome(
                job, exc, route=self.name, wait_s=s.unknown_outcome_wait_s, resends=s.unknown_outcome_resends
            ) from exc
        try:
            answer = mm7.decode(response.content, response.headers.get("Content-Type", ""))
        except DecodeError as exc:
            if response.status_code >= 300:
                raise status_failure(where, response) from exc
            raise TemporaryFailure(f"{where}: an answer that is not MM7 ({exc})", "4.4.2") from exc
        code = answer.status_code
        text = answer.fields.get("StatusText", "")
        if answer.operation == "Fault" or code is None:
            if code is None:
                # a Fault without an MM7 status: its HTTP status decides
                by_http = status_failure(where, response) if response.status_code >= 300 else None
                raise by_http or TemporaryFailure(f"{where}: SOAP Fault {answer.fault}", "4.4.2")
        elif answer.operation != "SubmitRsp":
            raise TemporaryFailure(f"{where}: expected SubmitRsp, got {answer.operation}", "4.4.2")
        verdict, status = mm7.classify(code)
        detail = f"{where}: MM7 status {code} {text}".rstrip()
        if verdict is not Verdict.SUCCESS:
            raise failure(verdict, detail, status)
        message_id = answer.fields.get("MessageID", "")
        if not message_id:
            raise TemporaryFailure(f"{where}: SubmitRsp {code} without a MessageID", "4.4.2")
        if self.settings.delivery_report:
            return Delivery(
                mmsc_id=message_id, pending=True, status=PENDING_STATUS, detail=f"{detail}; awaiting report"
            )
        return Delivery(mmsc_id=message_id, detail=f"relayed: {detail}")

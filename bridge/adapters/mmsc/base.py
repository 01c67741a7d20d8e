"""The `Route` seam: how a job's MMS reaches a phone (the builtin MMSC, or an operator's over MM7/EAIF/MM1).

`deliver` is idempotent for one job (the job id is the Transaction-Id): delivering a job again after a crash
must not give the phone two messages. It returns a `Delivery` — done, or taken by the MMSC and pending the
phone's confirmation, in which case the worker calls `deliver` again at the next point of the re-notification
schedule or as soon as the phone answers — or raises `TemporaryFailure` / `PermanentFailure` with the RFC 3463
status a report would carry.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from bridge.codec.mms import SendReq, decode_pdu
from bridge.errors import DecodeError, PermanentFailure, TemporaryFailure, UnknownOutcome
from bridge.model import Handset, Job, StoredMessage

log = logging.getLogger("bridge.route")
_UNKNOWN_COUNT = re.compile(r"\(unknown outcome (\d+)\)")

#: the status a pending job carries (and a "delayed" report would show) while the phone has not confirmed
PENDING_STATUS = "4.0.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    mmsc_id: str | None
    #: the MMSC has the message but the phone has not confirmed it yet
    pending: bool = False
    status: str = "2.0.0"
    detail: str = "delivered"
    #: which route delivered it (set by the router; pending jobs come back to it)
    route: str | None = None
    #: sent on as a plain SMS with a link to the message's page (`fallback_sms`), not as an MMS; after the MMS
    #: failed (`instead_of_failure`) or without trying it
    relayed: bool = False
    instead_of_failure: bool = False


class TextSender(Protocol):
    """A route that can also send one plain SMS to a job's phone (for the SMS with a link)."""

    async def send_text(self, job: Job, text: str) -> str | None: ...


class Route(Protocol):
    name: str

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery: ...

    async def close(self) -> None:
        """Let go of connections (HTTP clients); the route is not used afterwards."""

    async def ready(self) -> str | None:
        """None when the route could take a message now (its peer answers, its folder can be written); else why
        not, in a few words (for `/readyz`)."""


def stored_request(mms: bytes) -> SendReq:
    """The m-send-req a message was stored as (one the store cannot give back readable is the bridge's own fault:
    permanent, 5.6.0)."""
    try:
        request = decode_pdu(mms)
    except DecodeError as exc:
        raise PermanentFailure(f"stored MMS unreadable: {exc}", "5.6.0") from exc
    if not isinstance(request, SendReq):
        raise PermanentFailure(f"stored MMS is a {type(request).__name__}, not an m-send-req", "5.6.0")
    return request


def handset_outcome(job: Job, *, mmsc_id: str | None, via: str = "") -> Delivery | None:
    """What the phone's answer already recorded on the job means, whoever reported it (the phone itself to the
    builtin MMSC, or an operator's MMSC in a delivery report, `via`); None when nothing was recorded.

    Fetched or retrieved: delivered; Rejected: 5.7.1; Expired unfetched: 4.4.7; Unrecognised: 5.6.0; Failed: the
    status and words the peer's report left on the job;
    Deferred: still pending (the user fetches it by hand, or it expires)."""
    h = job.handset
    if h is None:
        return None
    if h.received:
        verb = "fetched" if h is Handset.FETCHED else "retrieved"
        return Delivery(mmsc_id=mmsc_id, detail=f"{verb} by the phone{via}")
    if h is Handset.REJECTED:
        raise PermanentFailure(f"the recipient's phone rejected the message{via}", "5.7.1")
    if h is Handset.EXPIRED:
        raise PermanentFailure(f"the message expired before the phone fetched it{via}", "4.4.7")
    if h is Handset.FAILED:
        raise PermanentFailure(f"{job.last_error or 'the message failed'}{via}", job.last_status or "5.0.0")
    if h is Handset.UNRECOGNISED:
        raise PermanentFailure(f"the recipient's phone could not read the MMS notification{via}", "5.6.0")
    return Delivery(
        mmsc_id=mmsc_id, pending=True, status=PENDING_STATUS, detail=f"the phone deferred the retrieval{via}"
    )


def unknown_outcome(
    job: Job, exc: UnknownOutcome, *, route: str, wait_s: float, resends: int
) -> TemporaryFailure | PermanentFailure:
    """A request the peer may have taken without answering. Resending may deliver the message twice (peers give
    each request its own message id), so the resend waits at least `wait_s` — past any answer time of the peer —
    and happens at most `resends` times in a row; then the job ends with 4.4.7, its fate unknown."""
    previous = _UNKNOWN_COUNT.search(job.last_error or "")
    count = (int(previous.group(1)) if previous else 0) + 1
    log.warning(
        "job=%s route=%s outcome=unknown possibly_duplicate=%s resend=%d/%d",
        job.id,
        route,
        "yes" if count <= resends else "no",
        min(count, resends),
        resends,
    )
    detail = f"{exc.detail}; the peer may have taken it (unknown outcome {count})"
    if count > resends:
        return PermanentFailure(f"{detail}; not sent again, it may have been delivered", "4.4.7")
    return TemporaryFailure(detail, exc.status, retry_after_s=wait_s)

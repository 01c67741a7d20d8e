"""The builtin MMSC's surface on the public listener of the web server (`adapters/web`): where phones fetch
content and answer.

- `GET /m/<token>` (and HEAD): the m-retrieve-conf (OMA-MMS-ENC 6.3) as `application/vnd.wap.mms-message`.
  The token is the job's 128-bit secret; an unknown token, a job that failed or expired, or content already
  swept gets 404. Single byte ranges (RFC 9110 14) are served as 206, an unsatisfiable one gets 416; several
  ranges get the whole body. A GET that hands out the last byte records the fetch (job -> `retrieved`) — after that byte
  has been written and the connection's buffer drained, never before: a client that resets the connection after
  its request fetched nothing.
- `POST /m`: m-notifyresp-ind (6.2) and m-acknowledge-ind (6.4), matched by Transaction-Id (the token).
  Each is recorded on the job with its X-Mms-Report-Allowed, and the worker is woken to finish the job. A body
  that is not such a PDU gets 400, an unknown Transaction-Id 404; neither changes anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from bridge.adapters.store.base import HandsetStore
from bridge.adapters.web.ranges import parse_range
from bridge.adapters.web.server import Listener, WebServer
from bridge.codec.mms import (
    MMS_MEDIA_TYPE,
    AcknowledgeInd,
    NotifyRespInd,
    SendReq,
    Status,
    YesNo,
    decode_pdu,
    encode_pdu,
)
from bridge.convert.compose import retrieve_conf_from
from bridge.errors import DecodeError, StoreError
from bridge.logs import shown
from bridge.metrics import Metrics
from bridge.model import Handset, Job, JobState

log = logging.getLogger("bridge.mmsc")

_STATUS_EVENTS = {
    Status.RETRIEVED: Handset.ACKNOWLEDGED,
    Status.REJECTED: Handset.REJECTED,
    Status.DEFERRED: Handset.DEFERRED,
    Status.UNRECOGNISED: Handset.UNRECOGNISED,
}
_SERVED_STATES = (JobState.NOTIFIED, JobState.LEASED, JobState.RETRIEVED, JobState.DELIVERED)


#: how long a response's last bytes may wait in the transport's buffer for a slow phone before the fetch is dropped
DRAIN_WAIT_S = 60.0


async def _drained(request: web.Request) -> bool:
    """True once every byte written to the connection has been handed to the kernel; False when the connection
    closed (or stalled past DRAIN_WAIT_S) with bytes still unsent."""
    transport = request.transport
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_WAIT_S
    while transport is not None and transport.get_write_buffer_size():
        if transport.is_closing() or loop.time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return transport is not None and not transport.is_closing()


class MmscWeb:
    def __init__(
        self,
        *,
        store: HandsetStore,
        ack_wait_s: float,
        on_answer: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        cache_entries: int = 32,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.store = store
        self.ack_wait_s = ack_wait_s
        self.on_answer = on_answer
        self.clock = clock
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_entries = cache_entries

    def install(self, server: WebServer) -> None:
        """The phones' side of the builtin MMSC on the public listener."""
        server.add_route(Listener.PUBLIC, "GET", "/m/{token}", self.get_content)
        server.add_route(Listener.PUBLIC, "POST", "/m", self.post_answer)

    async def _content(self, job: Job) -> bytes | None:
        if job.state.final:
            # its content may have been swept since it was cached: look in the store again
            self._cache.pop(job.id, None)
        cached = self._cache.get(job.id)
        if cached is not None:
            self._cache.move_to_end(job.id)
            return cached
        message = await self.store.message(job.message_id, with_raw=False)
        if not message.mms:
            return None
        request = decode_pdu(message.mms)
        assert isinstance(request, SendReq)
        data = encode_pdu(
            retrieve_conf_from(
                request,
                transaction_id=job.token,
                message_id=job.id,
                to=(f"{job.recipient.e164}/TYPE=PLMN",),
                date=datetime.fromtimestamp(int(message.received_at), UTC),
            )
        )
        self._cache[job.id] = data
        if len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return data

    async def get_content(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        try:
            job = await self.store.by_token(token)
            servable = (
                job is not None
                and job.state in _SERVED_STATES
                and job.mmsc_id is not None
                and (job.state is JobState.DELIVERED or self.clock() < job.expires_at)
            )
            data = await self._content(job) if servable and job is not None else None
        except (StoreError, DecodeError) as exc:
            log.error("fetch error=%r", exc)
            raise web.HTTPServiceUnavailable(text="content store unavailable, try again\n") from exc
        if job is None or data is None:
            raise web.HTTPNotFound(text="no such message, or it has expired\n")
        size = len(data)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}
        wanted = parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
        if wanted is False:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
        if isinstance(wanted, tuple):
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = web.StreamResponse(status=206 if isinstance(wanted, tuple) else 200, headers=headers)
        response.content_type = MMS_MEDIA_TYPE
        response.content_length = last + 1 - first
        await response.prepare(request)
        if request.method != "GET":
            return response
        try:
            await response.write(data[first : last + 1])
            await response.write_eof()
            drained = await _drained(request)
        except (ConnectionError, OSError) as exc:
            log.info("job=%s fetch=broken error=%r", job.id, exc)
            return response
        # the fetch counts once its last byte has left this process; a client gone before that fetched nothing
        if last == size - 1 and drained:
            await self._fetched(job)
        elif last == size - 1:
            log.info("job=%s fetch=broken error=connection closed before the body was sent", job.id)
        return response

    async def _fetched(self, job: Job) -> None:
        now = self.clock()
        state = await self.store.handset(
            job.id, event=Handset.FETCHED, now=now, at=now + self.ack_wait_s, report_allowed=job.report_allowed
        )
        if state is not None:
            self.metrics.handset_answers.labels(answer=Handset.FETCHED.value).inc()
            if job.state is JobState.NOTIFIED and job.updated_at is not None:
                self.metrics.notified_to_fetched_seconds.observe(max(0.0, now - job.updated_at))
            log.info("job=%s state=%s to=%s", job.id, state, shown(job.recipient))

    async def post_answer(self, request: web.Request) -> web.Response:
        media_type = request.content_type
        if media_type != MMS_MEDIA_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"expected {MMS_MEDIA_TYPE}, got {media_type}\n")
        body = await request.read()
        try:
            pdu = decode_pdu(body)
        except DecodeError as exc:
            raise web.HTTPBadRequest(text=f"not an MMS PDU: {exc}\n") from exc
        if isinstance(pdu, NotifyRespInd):
            event = _STATUS_EVENTS.get(Status(pdu.status)) if pdu.status in set(Status) else None
            if event is None:
                raise web.HTTPBadRequest(text=f"X-Mms-Status {pdu.status!r} is not an answer to a notification\n")
        elif isinstance(pdu, AcknowledgeInd):
            event = Handset.ACKNOWLEDGED
        else:
            raise web.HTTPBadRequest(text=f"expected m-notifyresp-ind or m-acknowledge-ind, got {type(pdu).__name__}\n")
        try:
            job = await self.store.by_token(pdu.transaction_id)
            if job is None or job.mmsc_id is None:
                raise web.HTTPNotFound(text="no such transaction\n")
            now = self.clock()
            at = job.expires_at if event is Handset.DEFERRED else now
            state = await self.store.handset(
                job.id, event=event, now=now, at=at, report_allowed=pdu.report_allowed != YesNo.NO
            )
        except StoreError as exc:
            log.error("answer error=%r", exc)
            raise web.HTTPServiceUnavailable(text="store unavailable, try again\n") from exc
        self.metrics.handset_answers.labels(answer=event.value).inc()
        log.info("job=%s handset=%s state=%s to=%s", job.id, event, state or job.state, shown(job.recipient))
        if state is not None and event is not Handset.DEFERRED:
            self.on_answer()
        return web.Response(status=200)

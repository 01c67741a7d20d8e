"""The builtin MMSC's web side (aiohttp, in the bridge's event loop): where phones fetch content and answer.

- `GET /m/<token>` (and HEAD): the m-retrieve-conf (OMA-MMS-ENC 6.3) as `application/vnd.wap.mms-message`.
  The token is the job's 128-bit secret; an unknown token, a job that failed or expired, or content already
  swept gets 404. Single byte ranges (RFC 9110 14) are served as 206, an unsatisfiable one gets 416; several
  ranges get the whole body. A GET that hands out the last byte records the fetch (job -> `retrieved`) — after that byte
  has been written and the connection's buffer drained, never before: a client that resets the connection after
  its request fetched nothing.
- `GET /sms/dlr?id=&type=`: Kannel's delivery reports for the notification SMS, logged.
- `POST /m`: m-notifyresp-ind (6.2) and m-acknowledge-ind (6.4), matched by Transaction-Id (the token).
  Each is recorded on the job with its X-Mms-Report-Allowed, and the worker is woken to finish the job. A body
  that is not such a PDU gets 400, an unknown Transaction-Id 404; neither changes anything.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from bridge.adapters.store.base import JobStore
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
from bridge.model import Handset, Job, JobState

log = logging.getLogger("bridge.mmsc")

#: what a phone posts is a few dozen octets; anything much larger is not an MMS answer
MAX_POST_BYTES = 64 * 1024
_STATUS_EVENTS = {
    Status.RETRIEVED: Handset.ACKNOWLEDGED,
    Status.REJECTED: Handset.REJECTED,
    Status.DEFERRED: Handset.DEFERRED,
    Status.UNRECOGNISED: Handset.UNRECOGNISED,
}
#: Kannel's DLR types (User's Guide, dlr-mask)
_DLR_TYPES = {1: "delivered", 2: "failed", 4: "queued-at-smsc", 8: "accepted-by-smsc", 16: "rejected-by-smsc"}
_SMS_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DLR_TYPE = re.compile(r"[0-9]{1,3}")
_SERVED_STATES = (JobState.NOTIFIED, JobState.LEASED, JobState.RETRIEVED, JobState.DELIVERED)


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One `bytes=` range as (first, last) inclusive; None to serve it all; False when unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash or not (first_s.isdigit() or last_s.isdigit()):
        return None
    if not first_s:
        length = int(last_s)
        return (max(0, size - length), size - 1) if length and size else False
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s.isdigit() else size - 1
    if first >= size or (last_s and int(last_s) < first):
        return False
    return first, last


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
        store: JobStore,
        ack_wait_s: float,
        on_answer: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        cache_entries: int = 32,
        header_timeout_s: float = 30.0,
        body_timeout_s: float = 60.0,
    ) -> None:
        self.store = store
        self.ack_wait_s = ack_wait_s
        self.on_answer = on_answer
        self.clock = clock
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_entries = cache_entries
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.app = web.Application(client_max_size=MAX_POST_BYTES, middlewares=[self._bounded])
        self.app.router.add_get("/m/{token}", self.get_content)
        self.app.router.add_post("/m", self.post_answer)
        self.app.router.add_get("/sms/dlr", self.sms_report)
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.port: int | None = None
        #: the last SMS delivery reports, (sms id, Kannel DLR type)
        self.sms_reports: list[tuple[str, int]] = []

    async def start(self, host: str, port: int) -> int:
        # no lingering: the rest of a refused body (413) is not read, the connection is closed after the answer;
        # an idle keep-alive connection is closed after the header timeout
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            lingering_time=0.0,
            keepalive_timeout=self.header_timeout_s,
        )
        await self._runner.setup()
        # our own listening socket, so that port 0 gives a port we can read back
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        await web.SockSite(self._runner, sock).start()
        self.port = int(sock.getsockname()[1])

        self._sweeper = asyncio.create_task(self._close_slow_connections())
        return self.port

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _close_slow_connections(self) -> None:
        """aiohttp has no timeout for a request's headers: a connection that is not inside a request (headers
        still coming, or idle) for `header_timeout_s` is closed. Checked twice a second."""
        idle_since: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            server = self._runner.server if self._runner is not None else None
            now = loop.time()
            for handler in list(server.connections) if server is not None else []:
                if getattr(handler, "_request_in_progress", False):
                    idle_since[handler] = now
                elif now - idle_since.setdefault(handler, now) > self.header_timeout_s:
                    handler.force_close()

    @web.middleware
    async def _bounded(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """A body declared larger than the limit is refused before a byte of it is read, and its connection
        closed; a body must arrive within `body_timeout_s`."""
        limit = request.app._client_max_size  # aiohttp keeps the limit it enforces only there
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit, actual_size=request.content_length, headers={"Connection": "close"}
            )
        if request.method != "POST":
            return await handler(request)
        try:
            async with asyncio.timeout(self.body_timeout_s):
                await request.read()  # read now, under the timeout; the handler's read() gets it from memory
        except TimeoutError:
            raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
        return await handler(request)

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
            log.info("job=%s state=%s to=%s", job.id, state, job.recipient.masked)

    async def sms_report(self, request: web.Request) -> web.Response:
        """Kannel's delivery report for one notification SMS (dlr-url): logged; the MMS itself is confirmed only
        by the phone's fetch and answer."""
        sms_id, kind = request.query.get("id", ""), request.query.get("type", "")
        # the id is ours (put in the dlr-url); anything else is not Kannel calling, and never reaches the log
        if not _SMS_ID.fullmatch(sms_id) or not _DLR_TYPE.fullmatch(kind):
            raise web.HTTPBadRequest(text="expected id= (the SMS id) and type= (a Kannel DLR type)\n")
        log.info("sms receipt id=%s type=%s", sms_id, _DLR_TYPES.get(int(kind), kind))
        self.sms_reports.append((sms_id, int(kind)))
        del self.sms_reports[:-100]
        return web.Response(text="ok\n")

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
        log.info("job=%s handset=%s state=%s to=%s", job.id, event, state or job.state, job.recipient.masked)
        if state is not None and event is not Handset.DEFERRED:
            self.on_answer()
        return web.Response(status=200)

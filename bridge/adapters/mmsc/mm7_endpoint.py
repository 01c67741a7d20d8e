"""The MM7 endpoint on the web server's public listener: `POST /mm7/<route name>`, where an operator's MMSC
calls the bridge back (3GPP TS 23.140, the VASP's server side), answered with the matching Rsp or a SOAP Fault.

- DeliveryReportReq: the MMStatus is recorded on the job the MessageID names (Retrieved/Forwarded -> delivered,
  Rejected, Expired, Unrecognised -> failed, DeferredRetrieval -> still waiting; Indeterminate changes nothing)
  and the worker is woken to finish it and tell the sender: a "delivered" DSN only when asked, failures always.
- ReadReplyReq: when the original mail asked for a read report (Disposition-Notification-To), an RFC 8098 MDN
  goes there.
- DeliverReq (a phone's message to us): handed to the reply path (`bridge.replies`): a mail from
  `<number>@<bridge domain>` to the sender of the message it replies to (LinkedID), else to the number's
  conversation, else to the route's (or `[replies]`) `forward_to`; its parts in the order of its SMIL; answered
  once handed on.

The MMSC is authenticated as configured per route: HTTP Basic (`callback_username`/`callback_password`) and/or
its address in `callback_allow` (addresses or networks). A route with neither takes no callbacks (403): the
endpoint fails closed. A body that is not MM7 gets a Fault 2007 with HTTP 400;
an unknown MessageID a Fault 2005; an operation we do not serve a Fault 4003.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from bridge.adapters.mail.base import MailSender
from bridge.adapters.store.base import HandsetStore
from bridge.adapters.web.server import Listener, WebServer
from bridge.codec import mm7
from bridge.codec.smil import SMIL_MEDIA_TYPE
from bridge.config import MM7Settings
from bridge.convert.mdn import ReplyPart, build_mdn, in_slide_order, original_message_id, read_report_address
from bridge.errors import BridgeError, DecodeError
from bridge.metrics import Metrics
from bridge.model import MSISDN, Handset
from bridge.replies import PhoneReply, Replies

log = logging.getLogger("bridge.mm7")

#: TS 23.140 MMStatus of a DeliveryReportReq -> what it means for the job (None: nothing changes)
MM_STATUS: dict[str, Handset | None] = {
    "retrieved": Handset.ACKNOWLEDGED,
    "forwarded": Handset.ACKNOWLEDGED,
    "rejected": Handset.REJECTED,
    "expired": Handset.EXPIRED,
    "unrecognised": Handset.UNRECOGNISED,
    "deferredretrieval": Handset.DEFERRED,
    "indeterminate": None,
}


class MM7Endpoint:
    def __init__(
        self,
        *,
        routes: Mapping[str, MM7Settings],
        store: HandsetStore,
        mailer: MailSender,
        domain: str,
        reporting_ua: str,
        on_answer: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        replies: Replies | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.replies = replies
        self.routes = dict(routes)
        self.store = store
        self.mailer = mailer
        self.domain = domain
        self.reporting_ua = reporting_ua
        self.on_answer = on_answer
        self.clock = clock
        self._networks = {
            name: [ipaddress.ip_network(a, strict=False) for a in s.callback_allow] for name, s in self.routes.items()
        }

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "POST", "/mm7/{route}", self.handle)

    def _authorised(self, request: web.Request, route: str, settings: MM7Settings) -> None:
        networks = self._networks[route]
        if not networks and not settings.callback_username:
            # fail closed: a route with neither credentials nor an allow-list takes no callbacks at all
            raise web.HTTPForbidden(text="callbacks are not enabled for this route (no credentials configured)\n")
        if networks:
            peer = ipaddress.ip_address(request.remote or "0.0.0.0")
            if not any(peer in n for n in networks):
                raise web.HTTPForbidden(text="this address may not call the MM7 endpoint\n")
        if settings.callback_username:
            expected = base64.b64encode(f"{settings.callback_username}:{settings.callback_password}".encode())
            # compared as bytes: hmac refuses str with non-ASCII characters, which a client controls
            given = request.headers.get("Authorization", "").removeprefix("Basic ").strip()
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="mms-bridge MM7"'})

    @staticmethod
    def _xml(body: bytes, status: int = 200) -> web.Response:
        return web.Response(status=status, body=body, content_type="text/xml", charset="utf-8")

    async def handle(self, request: web.Request) -> web.Response:
        route = request.match_info["route"]
        settings = self.routes.get(route)
        if settings is None:
            raise web.HTTPNotFound(text="no such MM7 route\n")
        self._authorised(request, route, settings)
        body = await request.read()
        try:
            message = mm7.decode(body, request.headers.get("Content-Type", ""))
        except DecodeError as exc:
            fault = mm7.encode_fault(
                release=settings.release, transaction_id="", code=mm7.StatusCode.MESSAGE_FORMAT_CORRUPT, text=str(exc)
            )
            return self._xml(fault, 400)
        release = message.release if message.release in mm7.MM7_RELEASES else settings.release
        tid = message.transaction_id
        try:
            if message.operation == "DeliveryReportReq":
                return await self._delivery_report(route, settings, message, release)
            if message.operation == "ReadReplyReq":
                return await self._read_reply(route, settings, message, release)
            if message.operation == "DeliverReq":
                return await self._deliver(route, settings, message, release)
        except BridgeError as exc:  # the store or the mail relay: the MMSC should try again
            log.error("mm7 route=%s operation=%s error=%r", route, message.operation, exc)
            fault = mm7.encode_fault(
                release=release, transaction_id=tid, code=mm7.StatusCode.SERVER_ERROR, text="try again", client=False
            )
            return self._xml(fault, 500)
        fault = mm7.encode_fault(
            release=release,
            transaction_id=tid,
            code=mm7.StatusCode.UNSUPPORTED_OPERATION,
            text=f"{message.operation} is not served here",
        )
        return self._xml(fault, 500)

    async def _delivery_report(
        self, route: str, settings: MM7Settings, message: mm7.Message, release: str
    ) -> web.Response:
        tid, message_id = message.transaction_id, message.fields.get("MessageID", "")
        job = await self.store.by_mmsc_id(route, message_id) if message_id else None
        if job is None:
            fault = mm7.encode_fault(
                release=release, transaction_id=tid, code=mm7.StatusCode.MESSAGE_ID_NOT_FOUND, text="unknown MessageID"
            )
            return self._xml(fault, 500)
        status = message.fields.get("MMStatus", "")
        event = MM_STATUS.get(status.lower().replace(" ", ""))
        if event is not None:
            now = self.clock()
            at = job.expires_at if event is Handset.DEFERRED else now
            state = await self.store.handset(job.id, event=event, now=now, at=at, report_allowed=True)
            self.metrics.handset_answers.labels(answer=event.value).inc()
            if state is not None and event is not Handset.DEFERRED:
                self.on_answer()
        await self.store.note(job.id, at=self.clock(), what=f"MM7 delivery report: {status or '-'}")
        log.info("mm7 route=%s report job=%s mm_status=%s", route, job.id, status or "-")
        return self._xml(mm7.encode_response("DeliveryReportRsp", release=release, transaction_id=tid))

    async def _read_reply(self, route: str, settings: MM7Settings, message: mm7.Message, release: str) -> web.Response:
        tid, message_id = message.transaction_id, message.fields.get("MessageID", "")
        job = await self.store.by_mmsc_id(route, message_id) if message_id else None
        if job is None:
            fault = mm7.encode_fault(
                release=release, transaction_id=tid, code=mm7.StatusCode.MESSAGE_ID_NOT_FOUND, text="unknown MessageID"
            )
            return self._xml(fault, 500)
        stored = await self.store.message(job.message_id)
        address = read_report_address(stored.raw) if stored.raw else None
        status = message.fields.get("MMStatus", "")
        if address and status.lower() in ("read", "deleted"):
            mdn = build_mdn(
                reporting_ua=self.reporting_ua,
                to=address,
                final_recipient=job.rcpt_to or job.recipient.e164,
                status=status,
                original=stored.raw,
                subject=stored.subject,
            )
            await self.mailer.send(mail_from="", to=address, data=mdn)
            self.metrics.reports_sent.labels(kind="mdn").inc()
            await self.store.note(job.id, at=self.clock(), what=f"read report ({status}) sent to <{address}> as an MDN")
        log.info("mm7 route=%s read_reply job=%s mm_status=%s mdn=%s", route, job.id, status, bool(address))
        return self._xml(mm7.encode_response("ReadReplyRsp", release=release, transaction_id=tid))

    async def _deliver(self, route: str, settings: MM7Settings, message: mm7.Message, release: str) -> web.Response:
        """A phone's MMS to us: to the reply path, answered once it was handed on (a Fault 3001 asks the MMSC to
        offer it again when it could not be)."""
        tid = message.transaction_id
        sender = next((a for role, a in message.addresses if role == "Sender"), "")
        number = sender.split("/", 1)[0]
        reply_to, in_reply_to = None, None
        linked = message.fields.get("LinkedID", "")
        if linked:
            job = await self.store.by_mmsc_id(route, linked)
            if job is not None:
                stored = await self.store.message(job.message_id)
                reply_to = stored.mail_from or None
                in_reply_to = original_message_id(stored.raw) if stored.raw else None
        try:
            phone = MSISDN(e164=number if number.startswith("+") else f"+{number}")
        except ValueError:
            phone = None
        outcome = "not-a-number"
        if phone is not None and self.replies is not None:
            parts = in_slide_order(
                [ReplyPart(content_type=a.content_type, data=a.data, filename=a.filename,
                           content_id=a.content_id.strip("<>") or None) for a in message.attachments]
            )  # fmt: skip
            texts = [p for p in parts if p.content_type.lower().startswith("text/plain")]
            media = tuple(p for p in parts if p not in texts and not p.content_type.lower().startswith(SMIL_MEDIA_TYPE))
            reply = PhoneReply(
                sender=phone,
                text="\n\n".join(p.data.decode("utf-8", "replace").strip() for p in texts),
                subject=message.fields.get("Subject", ""),
                parts=media,
                via=f"mm7 {route}",
                reply_to=reply_to,
                in_reply_to=in_reply_to,
            )
            outcome = await self.replies.take(reply, forward_to=settings.forward_to)
        log.info("mm7 route=%s deliver linked=%s reply=%s", route, linked or "-", outcome)
        return self._xml(mm7.encode_response("DeliverRsp", release=release, transaction_id=tid))

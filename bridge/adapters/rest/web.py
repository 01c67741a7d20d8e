"""The REST routes' surface on the public listener of the web server.

- `GET /media/<token>/<n>` (and HEAD, single byte ranges): part `n` of the job's stored m-send-req, with its own
  Content-Type, for Twilio and Telnyx to fetch. The token is the job's 128-bit secret; served while the job is
  being sent or waits for its phone and before it expires, and after it was delivered until its content is swept
  (`mmsc.content_grace_s`) — as `/m/<token>`; else 404. Text and SMIL parts are not media and are not served.
- `POST /rest/<route>/status` (and `/rest/<route>/inbound`): the provider's callbacks, checked as the provider
  signs them (`twilio.read_callback`, `telnyx.read_callback`, `bandwidth.read_callback`); a request that fails the
  check is answered 401/403 and changes nothing. A final state is recorded on the job (delivered, or failed with
  the status the provider's error code maps to) and the worker woken to end it; a state on the way is a line on
  the job's timeline. A phone's message to us goes to the reply path (`bridge.replies`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bridge.adapters.mmsc.base import stored_request
from bridge.adapters.rest import bandwidth, telnyx, twilio
from bridge.adapters.rest.base import Inbound, Report
from bridge.adapters.store.base import HandsetStore
from bridge.adapters.web.ranges import ranged_response
from bridge.adapters.web.server import Listener, WebServer
from bridge.config import BandwidthSettings, RestSettings, TelnyxSettings, TwilioSettings
from bridge.errors import BridgeError, DeliveryError, RequestRefused, StoreError
from bridge.logs import shown
from bridge.metrics import Metrics
from bridge.model import Job, JobState
from bridge.replies import PhoneReply, Replies, phone_number

log = logging.getLogger("bridge.rest")

_SERVED_STATES = (JobState.LEASED, JobState.NOTIFIED, JobState.RETRIEVED, JobState.DELIVERED)
_NOT_MEDIA = ("text/plain", "application/smil")
#: Twilio reads a reply to an inbound message as TwiML: an empty one sends nothing back
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class MediaWeb:
    def __init__(self, *, store: HandsetStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "GET", "/media/{token}/{index}", self.get_media)

    async def get_media(self, request: web.Request) -> web.Response:
        token, index = request.match_info["token"], request.match_info["index"]
        if not index.isdigit() or len(index) > 4:
            raise web.HTTPNotFound(text="no such media\n")
        try:
            job = await self.store.by_token(token)
            servable = (
                job is not None
                and job.state in _SERVED_STATES
                and (job.state is JobState.DELIVERED or self.clock() < job.expires_at)
            )
            message = await self.store.message(job.message_id, with_raw=False) if servable and job else None
        except StoreError as exc:
            log.error("media error=%r", exc)
            raise web.HTTPServiceUnavailable(text="content store unavailable, try again\n") from exc
        if message is None or not message.mms:
            raise web.HTTPNotFound(text="no such media, or it has expired\n")
        try:
            parts = stored_request(message.mms).parts
        except DeliveryError as exc:
            raise web.HTTPNotFound(text="no such media\n") from exc
        n = int(index)
        if n >= len(parts) or parts[n].content_type.media_type.lower() in _NOT_MEDIA:
            raise web.HTTPNotFound(text="no such media\n")
        part = parts[n]
        return ranged_response(request, bytes(part.data), part.content_type.media_type)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    settings: RestSettings
    key: Ed25519PublicKey | None = None


class RestCallbacks:
    def __init__(
        self,
        *,
        routes: Mapping[str, RestSettings],
        store: HandsetStore,
        public_url: str,
        on_answer: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        replies: Replies | None = None,
    ) -> None:
        self.replies = replies
        self.routes = {
            name: _Checked(
                settings=s, key=telnyx.public_key(s) if isinstance(s, TelnyxSettings) and s.public_key else None
            )
            for name, s in routes.items()
        }
        self.store = store
        self.public_url = public_url.rstrip("/")
        self.on_answer = on_answer
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._seen: dict[str, OrderedDict[str, float]] = {name: OrderedDict() for name in routes}

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "POST", "/rest/{route}/status", self.handle)
        server.add_route(Listener.PUBLIC, "POST", "/rest/{route}/inbound", self.handle)

    def _read(self, name: str, checked: _Checked, request: web.Request, body: bytes) -> list[Report | Inbound]:
        s = checked.settings
        headers = {k.lower(): v for k, v in request.headers.items()}
        if isinstance(s, TwilioSettings):
            # the URL Twilio was given (public_url, behind any proxy) is what it signed
            return [twilio.read_callback(s, url=f"{self.public_url}{request.path_qs}", headers=headers, body=body)]
        if isinstance(s, TelnyxSettings):
            if checked.key is None:
                raise RequestRefused(403, "Forbidden", "webhooks are not enabled for this route (no public_key)")
            found = telnyx.read_callback(
                s, checked.key, headers=headers, body=body, now=self.clock(), seen=self._seen[name]
            )
            return [found] if found is not None else []
        assert isinstance(s, BandwidthSettings)
        if not s.callback_username:
            raise RequestRefused(403, "Forbidden", "callbacks are not enabled for this route (no credentials)")
        return bandwidth.read_callback(s, headers=headers, body=body)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["route"]
        checked = self.routes.get(name)
        if checked is None:
            raise web.HTTPNotFound(text="no such REST route\n")
        body = await request.read()
        try:
            found = self._read(name, checked, request, body)
        except RequestRefused as exc:
            log.warning("rest route=%s callback=refused http=%d why=%s", name, exc.status, exc.detail)
            raise _refusal(exc) from exc
        ref = request.query.get("ref")
        try:
            for item in found:
                if isinstance(item, Inbound):
                    await self._inbound(name, item)
                else:
                    await self._report(name, item, ref=item.ref or ref)
        except BridgeError as exc:  # the store, or the mail relay of a reply: the provider should try again
            log.error("rest route=%s callback error=%r", name, exc)
            raise web.HTTPServiceUnavailable(text="not taken now, try again\n") from exc
        if isinstance(checked.settings, TwilioSettings):
            return web.Response(text=_EMPTY_TWIML, content_type="text/xml")
        return web.Response(status=200)

    async def _job(self, route: str, report: Report, ref: str | None) -> Job | None:
        job = await self.store.by_token(ref) if ref else None
        if job is None and report.provider_id:
            job = await self.store.by_mmsc_id(route, report.provider_id)
        if job is None or (job.route not in (None, route)):
            return None
        if job.mmsc_id is not None and report.provider_id and job.mmsc_id != report.provider_id:
            return None  # a callback about an earlier send of the job, not the one it waits for
        return job

    async def _report(self, route: str, report: Report, *, ref: str | None) -> None:
        job = await self._job(route, report, ref)
        if job is None:
            log.info("rest route=%s callback=unknown state=%s", route, report.state)
            return
        now = self.clock()
        if report.event is None:
            await self.store.note(job.id, at=now, what=report.detail)
            log.info("rest route=%s job=%s state=%s", route, job.id, report.state)
            return
        state = await self.store.handset(
            job.id,
            event=report.event,
            now=now,
            at=now,
            report_allowed=True,
            status=report.status,
            detail=report.detail,
        )
        self.metrics.handset_answers.labels(answer=report.event.value).inc()
        log.info("rest route=%s job=%s report=%s state=%s to=%s", route, job.id, report.state,
                 state or job.state, shown(job.recipient))  # fmt: skip
        if state is not None:
            self.on_answer()

    async def _inbound(self, route: str, inbound: Inbound) -> None:
        """A phone's message to our number: to the reply path. Its media stay at the provider (fetching them needs
        the account's credentials); the mail lists their addresses."""
        number = phone_number(inbound.sender)
        if self.replies is None or number is None:
            log.info("rest route=%s inbound=ignored why=%s", route, "replies are off" if number else "not a number")
            return
        text = inbound.text
        if inbound.media_urls:
            text += "\n\n" + "\n".join(f"Media: {url}" for url in inbound.media_urls)
        await self.replies.take(PhoneReply(sender=number, text=text, via=f"{route} inbound"))


def _key(settings: RestSettings) -> Ed25519PublicKey | None:
    return telnyx.public_key(settings) if isinstance(settings, TelnyxSettings) and settings.public_key else None


def _refusal(exc: RequestRefused) -> web.HTTPException:
    if exc.status == 401:
        return web.HTTPUnauthorized(text=f"{exc.detail}\n", headers={"WWW-Authenticate": 'Basic realm="mms-bridge"'})
    if exc.status == 400:
        return web.HTTPBadRequest(text=f"{exc.detail}\n")
    return web.HTTPForbidden(text=f"{exc.detail}\n")

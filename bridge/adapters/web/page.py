"""The message page: `GET /v/<token>` on the public listener, the web page an SMS with a link points to when a
message cannot go as an MMS (`[[route]] fallback_sms`). It shows the message as the phone would have: its slides
in the SMIL's order — pictures, text, sound and video players — for a phone's screen, with no JavaScript at all
(`Content-Security-Policy` allows none; pictures and players come from `/v/<token>/<n>`, one stylesheet from
`/static/page.css`).

The token is the job's 128-bit secret. An unknown token gets 404; a known one whose message failed, expired or
whose content was swept (`mmsc.content_grace_s` after the job ended) gets 410 Gone. Whatever the mail said is
text on the page (Jinja2 autoescape): a `<script>` in it is shown, never run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from aiohttp import web

from bridge.adapters.mmsc.base import stored_request
from bridge.adapters.store.base import HandsetStore
from bridge.adapters.web.ranges import ranged_response
from bridge.adapters.web.server import Listener, WebServer
from bridge.adapters.web.slides import SlideView, part_text, slide_views
from bridge.codec.mms import SendReq
from bridge.codec.smil import SMIL_MEDIA_TYPE
from bridge.errors import DeliveryError, StoreError
from bridge.model import Job, JobState, StoredMessage

HERE = Path(__file__).parent
_GONE_STATES = (JobState.FAILED, JobState.EXPIRED)
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")  # fmt: skip
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def slides_of(request: SendReq) -> list[SlideView]:
    """The message's slides in the SMIL's order; without a readable SMIL, one slide per part in their order."""
    slides, _ = slide_views(request.parts)
    if slides:
        return slides
    for n, part in enumerate(request.parts):
        kind = part.content_type.media_type.lower()
        if kind.startswith("text/plain"):
            slides.append(SlideView(text=part_text(part)))
        elif kind.startswith("image/"):
            slides.append(SlideView(image=n))
        elif kind.startswith("video/"):
            slides.append(SlideView(video=n))
        elif kind.startswith("audio/"):
            slides.append(SlideView(audio=n))
    return slides


class MessagePage:
    def __init__(self, *, store: HandsetStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
        )

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "GET", "/v/{token}", self.get_page)
        server.add_route(Listener.PUBLIC, "GET", "/v/{token}/{index}", self.get_part)
        server.add_route(Listener.PUBLIC, "GET", "/static/page.css", self.get_style)

    async def _found(self, token: str) -> tuple[Job, StoredMessage, SendReq]:
        try:
            job = await self.store.by_token(token) if len(token) <= 64 else None
            if job is None:
                raise web.HTTPNotFound(text="no such message\n")
            message = await self.store.message(job.message_id, with_raw=False)
        except StoreError as exc:
            raise web.HTTPServiceUnavailable(text="store unavailable, try again\n") from exc
        live = job.state is JobState.DELIVERED or (job.state not in _GONE_STATES and self.clock() < job.expires_at)
        if not live or not message.mms:
            raise web.HTTPGone(text="this message has expired\n", headers=_HEADERS)
        try:
            return job, message, stored_request(message.mms)
        except DeliveryError as exc:
            raise web.HTTPGone(text="this message cannot be shown\n") from exc

    async def get_page(self, request: web.Request) -> web.Response:
        job, message, pdu = await self._found(request.match_info["token"])
        page = self.templates.get_template("phone_page.html").render(
            subject=pdu.subject or message.subject or "",
            sender=message.mail_from,
            sent=datetime.fromtimestamp(message.received_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            slides=slides_of(pdu),
            base=f"/v/{job.token}",
            types={n: p.content_type.media_type for n, p in enumerate(pdu.parts)},
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers=_HEADERS)

    async def get_part(self, request: web.Request) -> web.Response:
        _, _, pdu = await self._found(request.match_info["token"])
        index = request.match_info["index"]
        n = int(index) if index.isdigit() and len(index) < 5 else -1
        if not 0 <= n < len(pdu.parts) or pdu.parts[n].content_type.media_type.lower() == SMIL_MEDIA_TYPE:
            raise web.HTTPNotFound(text="no such part\n")
        part = pdu.parts[n]
        response = ranged_response(request, bytes(part.data), part.content_type.media_type)
        response.headers.update({k: v for k, v in _HEADERS.items() if k != "Cache-Control"})
        return response

    async def get_style(self, request: web.Request) -> web.Response:
        return web.Response(body=(HERE / "static" / "page.css").read_bytes(), content_type="text/css",
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"})  # fmt: skip

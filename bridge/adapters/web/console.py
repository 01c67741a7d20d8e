"""The operators' console on the admin listener: server-rendered pages (Jinja2, autoescaped; a little plain
JavaScript from `static/`, nothing from the internet), behind a login.

- Login against a users file of bcrypt hashes (`admin.users_file`, checked as SMTP AUTH checks its users, with the
  same doubling delay after failures). The session is a cookie signed with itsdangerous (`admin.session_secret_file`,
  or a random secret per start), `HttpOnly`, `SameSite=Strict`, `Secure` unless configured otherwise, and it ends
  after `admin.session_lifetime_s`.
- Every action is a POST carrying the session's CSRF token; a page or action without a session is refused (pages
  send to the login, actions answer 403). Every page carries a strict Content-Security-Policy (scripts, styles
  and media from this origin only; no inline script; no framing), `nosniff` and `no-referrer`.
- What a mail wrote (subject, text, file names, the SMIL) is only ever rendered as escaped text, and a part's
  URL is its index, never its name. Parts are served with their own media type only when a browser cannot run
  it (pictures, sound, video, plain text), each with `Content-Disposition` and `nosniff` and a sandboxing CSP;
  anything else is an `application/octet-stream` download.
- Pages: the overview (jobs by state, the last hour, each route's readiness, the oldest due job), the message list
  (filters, paging, live updates by server-sent events) and one message: the MMS as a phone shows it, slide by
  slide, what was left out, the original mail, the notification, the job's record, and the actions retry, resend
  the notification and cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import itsdangerous
import jinja2
from aiohttp import web
from PIL import Image

from bridge.adapters.passwords import PasswordChecker
from bridge.adapters.store.base import Filter, JobStore
from bridge.adapters.web.server import Handler, Listener, WebServer
from bridge.adapters.web.slides import SlideView, slide_views
from bridge.codec.describe import Decoded, describe, render_text
from bridge.codec.mms import SendReq, decode_pdu, encode_pdu
from bridge.codec.multipart import BodyPart
from bridge.convert.mime import MimePart, parse_mail
from bridge.convert.notification import content_location, notification_push
from bridge.errors import DecodeError, StoreError
from bridge.logs import shown
from bridge.model import Job, JobState, StoredMessage

log = logging.getLogger("bridge.console")

HERE = Path(__file__).parent
COOKIE = "bridge_session"
PAGE_SIZE = 50
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: parts a browser shows without running anything: served as what they are; the rest is a download
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "text/plain")
INLINE_PREFIXES = ("audio/", "video/")
#: how often the live list looks for news, in seconds
EVENT_POLL_S = 1.0
FINAL = (JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    users_file_key: str = "admin.users_file"
    session_secret: bytes
    session_lifetime_s: float
    secure_cookies: bool
    #: the builtin MMSC's public URL, for the notification as it was sent ("" without a builtin route)
    public_url: str = ""
    #: each route's budget, in bytes of MMS
    budgets: dict[str, int] = field(default_factory=dict)


class Console:
    def __init__(
        self,
        *,
        settings: ConsoleSettings,
        passwords: PasswordChecker,
        store: JobStore,
        routes: Callable[[], Awaitable[dict[str, dict[str, Any]]]],
        commits: Callable[[], int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.passwords = passwords
        self.store = store
        self.routes = routes
        self.commits = commits
        self.clock = clock
        self.sessions = itsdangerous.URLSafeTimedSerializer(settings.session_secret, salt="console-session")
        self.login_tokens = itsdangerous.URLSafeTimedSerializer(settings.session_secret, salt="console-login")
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["number"] = shown
        self._closing = asyncio.Event()

    def install(self, server: WebServer) -> None:
        admin = Listener.ADMIN
        server.add_route(admin, "GET", "/login", self.get_login)
        server.add_route(admin, "POST", "/login", self.post_login)
        server.add_route(admin, "POST", "/logout", self.signed_in(self.post_logout))
        server.add_route(admin, "GET", "/", self.signed_in(self.get_overview))
        server.add_route(admin, "GET", "/messages", self.signed_in(self.get_messages))
        server.add_route(admin, "GET", "/messages/events", self.signed_in(self.get_events))
        server.add_route(admin, "GET", "/jobs/{job_id}", self.signed_in(self.get_job))
        server.add_route(admin, "GET", "/jobs/{job_id}/part/{n}", self.signed_in(self.get_part))
        server.add_route(admin, "GET", "/jobs/{job_id}/mail.eml", self.signed_in(self.get_mail))
        for action in ("retry", "resend", "cancel"):
            server.add_route(admin, "POST", f"/jobs/{{job_id}}/{action}", self.signed_in(self.post_action))
        server.add_route(admin, "GET", "/static/{name}", self.get_static)

    def close(self) -> None:
        """Ends the live lists' event streams, so that the web server can stop."""
        self._closing.set()

    # --- sessions -------------------------------------------------------------------------------------------

    def _session(self, request: web.Request) -> dict[str, str] | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            found = self.sessions.loads(cookie, max_age=int(self.settings.session_lifetime_s))
        except itsdangerous.BadData:
            return None
        if not isinstance(found, dict) or not isinstance(found.get("u"), str) or not isinstance(found.get("c"), str):
            return None
        if found["u"] not in self.passwords.users:  # removed from the users file: out
            return None
        return found

    def signed_in(self, handler: Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self._session(request)
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/login")
                return self._plain("sign in first\n", 403)
            if request.method == "POST":
                form = await request.post()
                token = form.get("csrf")
                if not isinstance(token, str) or not secrets.compare_digest(token.encode(), session["c"].encode()):
                    return self._plain("the form's CSRF token is missing or wrong\n", 403)
            try:
                return await handler(request, session)
            except StoreError as exc:
                log.error("console store=unavailable error=%r", exc)
                return self._plain("the store is unavailable: try again\n", 503)

        return guarded

    async def get_login(self, request: web.Request) -> web.Response:
        return self._page("login.html", None, token=self.login_tokens.dumps("login"), error="")

    async def post_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        token, user, password = form.get("csrf"), form.get("user"), form.get("password")
        try:
            self.login_tokens.loads(token if isinstance(token, str) else "", max_age=3600)
        except itsdangerous.BadData:
            return self._plain("the login form's token is missing or too old: load the page again\n", 403)
        if not isinstance(user, str) or not isinstance(password, str):
            return self._plain("user and password are needed\n", 400)
        peer = request.remote or "-"
        ok = await self.passwords.check(user.encode(), password.encode(), peer)
        if not ok:
            log.warning("console login=failed peer=%s", peer)
            page = self._page(
                "login.html", None, token=self.login_tokens.dumps("login"), error="Wrong user or password."
            )
            page.set_status(401)
            return page
        log.info("console login=ok user=%s peer=%s", user, peer)
        session = self.sessions.dumps({"u": user, "c": secrets.token_urlsafe(24)})
        response = web.HTTPSeeOther("/")
        response.set_cookie(
            COOKIE,
            session,
            httponly=True,
            secure=self.settings.secure_cookies,
            samesite="Strict",
            max_age=int(self.settings.session_lifetime_s),
            path="/",
        )
        raise response

    async def post_logout(self, request: web.Request, session: dict[str, str]) -> web.Response:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # --- pages ----------------------------------------------------------------------------------------------

    async def get_overview(self, request: web.Request, session: dict[str, str]) -> web.Response:
        now = self.clock()
        status, activity, routes = await asyncio.gather(
            self.store.status(), self.store.activity(since=now - 3600), self.routes()
        )
        oldest = status.get("oldest_due_at")
        return self._page(
            "overview.html",
            session,
            jobs={state.value: status["jobs"].get(state.value, 0) for state in JobState},
            activity={k: activity.get(k, 0) for k in ("accepted", "delivered", "failed", "expired")},
            routes=routes,
            oldest_due_s=max(0.0, now - oldest) if oldest else None,
        )

    def _filter(self, request: web.Request) -> tuple[Filter, dict[str, str]]:
        q = request.query
        state = q.get("state", "")
        before = q.get("before", "")
        cursor = None
        if before and "|" in before:
            at, _, job_id = before.partition("|")
            try:
                cursor = (float(at), job_id)
            except ValueError:
                cursor = None
        where = Filter(
            state=JobState(state) if state in {s.value for s in JobState} else None,
            route=q.get("route") or None,
            number=q.get("number") or None,
            sender=q.get("sender") or None,
            since=_day(q.get("since", "")),
            until=_day(q.get("until", ""), end=True),
            search=q.get("q") or None,
            before=cursor,
        )
        shown_filters = {k: q.get(k, "") for k in ("state", "route", "number", "sender", "since", "until", "q")}
        return where, shown_filters

    async def get_messages(self, request: web.Request, session: dict[str, str]) -> web.Response:
        where, filters = self._filter(request)
        found = await self.store.find(where, limit=PAGE_SIZE + 1)
        page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        last = page[-1].job if page and more else None
        next_query = {k: v for k, v in filters.items() if v}
        if last is not None:
            next_query["before"] = f"{last.created_at!r}|{last.id}"
        template = "rows.html" if request.query.get("fragment") == "rows" else "messages.html"
        return self._page(
            template,
            session,
            rows=page,
            filters=filters,
            states=[s.value for s in JobState],
            next_query=next_query if last is not None else None,
        )

    async def get_events(self, request: web.Request, session: dict[str, str]) -> web.StreamResponse:
        """A server-sent event `change` whenever the store committed something (looked at every second): the
        store's commit count, kept in memory, costs the store nothing however many consoles are open."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        seen: int | None = None
        try:
            while not self._closing.is_set():
                mark = self.commits()
                if seen is not None and mark != seen:
                    await response.write(b"event: change\ndata: {}\n\n")
                else:
                    await response.write(b": waiting\n\n")
                seen = mark
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), EVENT_POLL_S)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _job(self, request: web.Request) -> tuple[Job, StoredMessage]:
        job = await self.store.get(request.match_info["job_id"])
        if job is None:
            raise web.HTTPNotFound(text="no such job\n")
        try:
            message = await self.store.message(job.message_id)
        except StoreError as exc:
            raise web.HTTPNotFound(text="its message is gone\n") from exc
        return job, message

    async def get_job(self, request: web.Request, session: dict[str, str]) -> web.Response:
        job, message = await self._job(request)
        parts, slides, smil_problem = _slides(message.mms)
        mail = parse_mail(message.raw) if message.raw else None
        return self._page(
            "message.html",
            session,
            job=job,
            message=message,
            parts=parts,
            slides=slides,
            smil_problem=smil_problem,
            mms_bytes=len(message.mms),
            budget=self.settings.budgets.get(job.route or "", max(self.settings.budgets.values(), default=0)),
            headers=[(k, str(v)) for k, v in mail.headers.items()] if mail is not None else [],
            tree=_tree(mail) if mail is not None else [],
            notification=self._notification(job, message),
            timeline=await self.store.events(job.id),
            final=job.state in FINAL,
        )

    def _notification(self, job: Job, message: StoredMessage) -> str | None:
        """The m-notification-ind the builtin MMSC sends for this job, as `bridge decode` shows it."""
        if job.route != "builtin" or job.mmsc_id is None or not self.settings.public_url or not message.mms:
            return None
        try:
            request = decode_pdu(message.mms)
        except DecodeError:
            return None
        if not isinstance(request, SendReq):
            return None
        sent_at = job.updated_at or job.created_at
        notification, segments = notification_push(
            transaction_id=job.token,
            content_location=content_location(self.settings.public_url, job.token),
            message_size=len(message.mms),
            expiry=timedelta(seconds=max(60, int(job.expires_at - sent_at))),
            reference=int.from_bytes(job.token.encode()[:1], "big"),
            sender=request.sender if isinstance(request.sender, str) else None,
            subject=request.subject,
        )
        encoded = encode_pdu(notification)
        shown_pdu = Decoded(pdu=decode_pdu(encoded), push=None, segments=len(segments), size=len(encoded))
        return render_text(describe(shown_pdu))

    async def get_part(self, request: web.Request, session: dict[str, str]) -> web.Response:
        _, message = await self._job(request)
        parts = _parts(message.mms)
        try:
            part = parts[int(request.match_info["n"])]
        except (ValueError, IndexError):
            raise web.HTTPNotFound(text="no such part\n") from None
        media_type = part.content_type.media_type
        inline = media_type in INLINE_TYPES or media_type.startswith(INLINE_PREFIXES)
        disposition = "inline" if inline else "attachment"
        headers = {
            "Content-Type": media_type + ("; charset=utf-8" if media_type == "text/plain" else "")
            if inline
            else "application/octet-stream",
            "Content-Disposition": f'{disposition}; filename="part-{request.match_info["n"]}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=300",
        }
        return web.Response(body=bytes(part.data), headers=headers)

    async def get_mail(self, request: web.Request, session: dict[str, str]) -> web.Response:
        job, message = await self._job(request)
        return web.Response(
            body=message.raw,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{job.message_id}.eml"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def post_action(self, request: web.Request, session: dict[str, str]) -> web.Response:
        job_id, action = request.match_info["job_id"], request.path.rsplit("/", 1)[1]
        now = self.clock()
        if action == "cancel":
            done = await self.store.cancel(job_id, now=now)
        else:  # retry now, or resend the notification: due now, the route hands it over again
            done = await self.store.requeue(job_id, now=now)
        log.info("console action=%s job=%s user=%s done=%s", action, job_id, session["u"], "yes" if done else "no")
        raise web.HTTPSeeOther(f"/jobs/{job_id}")

    async def get_static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        kinds = {"console.js": "text/javascript", "console.css": "text/css"}
        if name not in kinds:
            raise web.HTTPNotFound()
        return web.Response(
            body=(HERE / "static" / name).read_bytes(),
            headers={"Content-Type": f"{kinds[name]}; charset=utf-8", "X-Content-Type-Options": "nosniff",
                     "Cache-Control": "max-age=300"},
        )  # fmt: skip

    # --- rendering ------------------------------------------------------------------------------------------

    def _page(self, template: str, session: dict[str, str] | None, **values: Any) -> web.Response:
        body = self.templates.get_template(template).render(
            csrf=session["c"] if session else "", user=session["u"] if session else "", **values
        )
        return web.Response(
            text=body,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY",
                "Cache-Control": "no-store",
            },
        )

    @staticmethod
    def _plain(text: str, status: int) -> web.Response:
        return web.Response(text=text, status=status, headers={"Cache-Control": "no-store"})


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _day(text: str, *, end: bool = False) -> float | None:
    """A YYYY-MM-DD date (UTC) as a time: its start, or with `end` the start of the next day."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day.timestamp() + (86_400 if end else 0)


def _parts(mms: bytes) -> tuple[BodyPart, ...]:
    if not mms:
        return ()
    try:
        pdu = decode_pdu(mms)
    except DecodeError:
        return ()
    return tuple(getattr(pdu, "parts", ()) or ())


def _slides(mms: bytes) -> tuple[list[dict[str, Any]], list[SlideView], str]:
    """The parts (index, type, size, name, pixels) and the SMIL slides, each naming its parts by index."""
    parts = _parts(mms)
    listed = []
    for i, part in enumerate(parts):
        location = part.content_location or ""
        pixels = None
        if part.content_type.media_type.startswith("image/"):
            try:
                with Image.open(io.BytesIO(bytes(part.data))) as im:
                    pixels = f"{im.width}x{im.height}"
            except (OSError, ValueError, Image.DecompressionBombError):
                pixels = None
        listed.append(
            {"index": i, "type": part.content_type.media_type, "size": len(part.data), "name": location,
             "pixels": pixels}
        )  # fmt: skip
    slides, problem = slide_views(parts)
    return listed, slides, problem


def _tree(part: MimePart, depth: int = 0) -> list[dict[str, Any]]:
    """The mail's MIME tree, one line per entity."""
    size = len(part.body) if not part.children else None
    rows = [{"depth": depth, "type": part.content_type, "name": part.filename or "", "size": size}]
    for child in part.children[:200]:
        rows += _tree(child, depth + 1)
    return rows

"""The HTTP API on the admin listener (`/api/v1`), described by the OpenAPI 3.1 document next to this file and
served at `/api/openapi.json`.

- Keys: `Authorization: Bearer <key>` only (never a query parameter); the store keeps a SHA-256 digest; scopes
  `send`, `read`, `admin`; a revoked key is refused like an unknown one (401); each key's `rate_per_minute` is
  counted in the store, for every bridge sharing it.
- `POST /api/v1/messages` takes a form (`multipart/form-data` with files, or urlencoded: to — repeated —, from,
  subject, text), JSON (media
  as base64), or a whole mail (`message/rfc822`, with `to` in the query). It becomes a mail and goes through the
  same intake use case as SMTP: the same sender policy (the key is the authenticated identity), the same
  recipients' rules, the same conversion and budget, the same refusals with the same RFC 3463 codes, answered as
  RFC 9457 problem details. `202` with the message id and one job per recipient. An `Idempotency-Key` header
  makes a retried POST answer what the first one did.
- `GET /api/v1/messages/{id}`: each recipient's state and timeline, what the conversion left out;
  `GET /api/v1/messages` with filters and a cursor; `DELETE /api/v1/messages/{id}` cancels what is not final.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP, default
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from bridge.adapters.store.base import Filter, JobStore
from bridge.adapters.web.server import Listener, WebServer
from bridge.errors import RequestRefused, StoreError
from bridge.intake import Accepted, Intake, Recipient, Submission
from bridge.model import ApiKey, Job, JobState, Listed
from bridge.recipients import Refusal

OPENAPI = Path(__file__).with_name("openapi.json")
PROBLEM = "application/problem+json"
#: a message of the API is at most this big, files and base64 included
MAX_BODY_BYTES = 25 * 1024 * 1024
PAGE_SIZE = 50
SCOPES = frozenset({"send", "read", "admin"})
#: how long a key's lookup is kept (a revoked key stops working within this), in seconds
KEY_CACHE_S = 5.0
FINAL = {JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def problem_response(problem: RequestRefused) -> web.Response:
    """The RFC 9457 problem details of a refusal."""
    body: dict[str, Any] = {"type": "about:blank", "title": problem.title, "status": problem.status}
    body["detail"] = problem.detail
    if problem.code:
        body["code"] = problem.code
    headers = {"Retry-After": "60"} if problem.status in (429, 503) else {}
    return web.Response(text=json.dumps(body), status=problem.status, content_type=PROBLEM, headers=headers)


def refusal_problem(refusal: Refusal) -> RequestRefused:
    """An SMTP refusal as the HTTP answer that means the same."""
    reply = refusal.reply
    smtp, _, rest = reply.partition(" ")
    code, _, text = rest.partition(" ")
    if not code[:1].isdigit() or code.count(".") != 2:
        code, text = "", rest
    if code == "4.7.1" or smtp == "450":
        return RequestRefused(429, "Too many messages", text, code or None)
    if smtp.startswith("4"):
        return RequestRefused(503, "Try again later", text, code or None)
    if code == "5.3.4" or smtp == "552":
        return RequestRefused(413, "Message too large", text, code or None)
    if code.startswith("5.7"):
        return RequestRefused(403, "Not allowed", text, code or None)
    return RequestRefused(422, "Message refused", text, code or None)


class Api:
    def __init__(
        self,
        *,
        intake: Callable[[], Intake],
        store: JobStore,
        domain: str,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.intake = intake
        self.store = store
        self.domain = domain
        self.on_change = on_change
        self.clock = clock
        #: keys looked up recently, by digest: a revocation takes effect within KEY_CACHE_S on every bridge
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}

    def install(self, server: WebServer) -> None:
        admin = Listener.ADMIN
        server.add_route(admin, "GET", "/api/openapi.json", self.get_openapi)
        server.add_route(admin, "POST", "/api/v1/messages", self.guarded("send", self.post_message))
        server.add_route(admin, "GET", "/api/v1/messages", self.guarded("read", self.list_messages))
        server.add_route(admin, "GET", "/api/v1/messages/{id}", self.guarded("read", self.get_message))
        server.add_route(admin, "DELETE", "/api/v1/messages/{id}", self.guarded("send", self.delete_message))
        server.allow_body(admin, MAX_BODY_BYTES)

    async def get_openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=OPENAPI.read_bytes(), content_type="application/json")

    def guarded(
        self, scope: str, handler: Callable[[web.Request, ApiKey], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            try:
                key = await self._key(request, scope)
                return await handler(request, key)
            except RequestRefused as problem:
                return problem_response(problem)
            except StoreError:
                return problem_response(RequestRefused(503, "Try again later", "the store is unavailable"))

        return run

    async def _key(self, request: web.Request, scope: str) -> ApiKey:
        header = request.headers.get("Authorization", "")
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise RequestRefused(401, "Unauthorized", "an API key is needed: Authorization: Bearer <key>")
        key = await self._key_by_digest(digest(secret.strip()))
        if key is None or key.revoked_at is not None:
            raise RequestRefused(401, "Unauthorized", "unknown or revoked API key")
        if scope not in key.scopes and "admin" not in key.scopes:
            raise RequestRefused(403, "Forbidden", f"this key has no {scope!r} scope")
        return key

    async def _key_by_digest(self, found_digest: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._keys.get(found_digest)
        if cached is not None and now - cached[0] < KEY_CACHE_S:
            return cached[1]
        key = await self.store.key_by_digest(found_digest)
        if len(self._keys) > 10_000:  # a spray of made-up keys: forget rather than grow
            self._keys.clear()
        self._keys[found_digest] = (now, key)
        return key

    # --- sending ----------------------------------------------------------------------------------------------

    async def post_message(self, request: web.Request, key: ApiKey) -> web.Response:
        idempotency = request.headers.get("Idempotency-Key", "")
        if len(idempotency) > 200:
            raise RequestRefused(400, "Bad request", "Idempotency-Key: at most 200 characters")
        if idempotency:
            found = await self.store.remembered(key.id, idempotency)
            if found is not None:
                return web.json_response(text=found[1], status=found[0], headers={"Idempotent-Replayed": "true"})
        try:
            status, accepted = await self._send(request, key)
            text = json.dumps(accepted)
            response = web.json_response(text=text, status=status)
        except RequestRefused as problem:
            status, response = problem.status, problem_response(problem)
            text = response.text or ""
        if idempotency and status < 500 and status != 429:
            await self.store.remember(key.id, idempotency, status=status, body=text, now=self.clock())
        return response

    async def _send(self, request: web.Request, key: ApiKey) -> tuple[int, dict[str, Any]]:
        if key.rate_per_minute and not await self.store.count_send(
            f"api-key:{key.id}", limit=key.rate_per_minute, window_s=60, now=self.clock()
        ):
            raise RequestRefused(429, "Too many messages", f"this key may send {key.rate_per_minute} messages a minute")
        sender, numbers, raw, callback = await self._mail(request)
        intake = self.intake()
        refusal = await intake.check_sender(sender, identity=f"api-key:{key.name}")
        if refusal is not None:
            raise refusal_problem(refusal)
        recipients: list[Recipient] = []
        for to in numbers:
            address = to if "@" in to else f"{to.lstrip('+')}@{self.domain}"
            number = intake.check_recipient(address, accepted=len(recipients))
            if isinstance(number, Refusal):
                problem = refusal_problem(number)
                raise RequestRefused(problem.status, problem.title, f"{to}: {problem.detail}", problem.code)
            recipients.append(Recipient(address=address, number=number))
        outcome = await intake.submit(
            Submission(
                sender=sender,
                recipients=tuple(recipients),
                raw=raw,
                size=len(raw),
                identity=key.name,
                # the message's own callback, else its key's
                status_callback=callback or key.status_callback,
                api_key_id=key.id,
            )
        )
        if isinstance(outcome, Refusal):
            raise refusal_problem(outcome)
        return 202, self._accepted(outcome)

    @staticmethod
    def _accepted(outcome: Accepted) -> dict[str, Any]:
        jobs = [{"id": job_id, "to": to} for job_id, to in zip(outcome.job_ids, outcome.numbers, strict=True)]
        body: dict[str, Any] = {"id": outcome.message_id, "jobs": jobs}
        if outcome.already_queued:
            body["already_queued"] = list(outcome.already_queued)
        return body

    async def _mail(self, request: web.Request) -> tuple[str, list[str], bytes, str | None]:
        """The sender, the numbers, the mail and the status callback URL an API request describes."""
        media_type = request.content_type
        if media_type == "message/rfc822":
            numbers = request.query.getall("to", [])
            raw = await request.read()
            sender = request.query.get("from", "")
            return sender, _numbers(numbers), raw, callback_url(request.query.get("status_callback"))
        if media_type == "application/json":
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestRefused(400, "Bad request", f"the body is not JSON: {exc}") from exc
            except RecursionError as exc:
                raise RequestRefused(400, "Bad request", "the body is JSON nested too deep") from exc
            if not isinstance(body, dict):
                raise RequestRefused(400, "Bad request", "the body is a JSON object")
            to = body.get("to", [])
            files = []
            for i, item in enumerate(body.get("media", []) or []):
                if not isinstance(item, dict) or not isinstance(item.get("content"), str):
                    raise RequestRefused(400, "Bad request", f"media[{i}]: an object with content (base64)")
                try:
                    data = base64.b64decode(item["content"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise RequestRefused(400, "Bad request", f"media[{i}].content: not base64") from exc
                files.append((str(item.get("filename") or f"file{i}"), str(item.get("content_type") or ""), data))
            fields = {k: body.get(k) for k in ("from", "subject", "text")}
            return (*self._compose(fields, to if isinstance(to, list) else [to], files),
                    callback_url(body.get("status_callback")))  # fmt: skip
        if media_type == "application/x-www-form-urlencoded":
            try:
                values = parse_qs((await request.read()).decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError as exc:
                raise RequestRefused(400, "Bad request", "the form is not UTF-8") from exc
            plain: dict[str, Any] = {k: values[k][0] if values.get(k) else None for k in ("from", "subject", "text")}
            callback = callback_url(values["status_callback"][0] if values.get("status_callback") else None)
            return (*self._compose(plain, list(values.get("to", [])), []), callback)
        if media_type == "multipart/form-data":
            values, files = _form(request.headers.get("Content-Type", ""), await request.read())
            named: dict[str, Any] = {k: values[k][0] if values.get(k) else None for k in ("from", "subject", "text")}
            callback = callback_url(values["status_callback"][0] if values.get("status_callback") else None)
            return (*self._compose(named, list(values.get("to", [])), files), callback)
        raise RequestRefused(
            415,
            "Unsupported media type",
            "send multipart/form-data, application/x-www-form-urlencoded, application/json or message/rfc822",
        )

    def _compose(
        self, fields: dict[str, Any], to: list[Any], files: list[tuple[str, str, bytes]]
    ) -> tuple[str, list[str], bytes]:
        for name in ("from", "subject", "text"):
            value = fields.get(name)
            if value is not None and not isinstance(value, str):
                raise RequestRefused(400, "Bad request", f"{name}: a string")
            if isinstance(value, str) and any(c in value for c in "\r\n\0") and name != "text":
                raise RequestRefused(400, "Bad request", f"{name}: no line breaks or NUL")
        sender = fields.get("from") or ""
        if not files:
            return sender, _numbers(to), _text_mail(sender, fields.get("subject") or "", fields.get("text") or "")
        msg = EmailMessage()
        if sender:
            msg["From"] = sender
        if fields.get("subject"):
            msg["Subject"] = fields["subject"]
        msg.set_content(fields.get("text") or "")
        for name, content_type, data in files:
            maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
        return sender, _numbers(to), msg.as_bytes(policy=SMTP)

    # --- reading and cancelling -------------------------------------------------------------------------------

    async def _jobs_of(self, message_id: str) -> list[Listed]:
        found = [
            f for f in await self.store.find(Filter(search=message_id), limit=1000) if f.job.message_id == message_id
        ]
        if not found:
            raise RequestRefused(404, "Not found", f"no message {message_id}")
        return found

    async def get_message(self, request: web.Request, key: ApiKey) -> web.Response:
        listed = await self._jobs_of(request.match_info["id"])
        message = await self.store.message(listed[0].job.message_id, with_raw=False)
        recipients = []
        for item in sorted(listed, key=lambda f: f.job.id):
            view = _job_view(item.job)
            view["timeline"] = [{"at": at, "what": what} for at, what in await self.store.events(item.job.id)]
            recipients.append(view)
        body = {
            "id": message.id,
            "from": message.mail_from,
            "subject": message.subject,
            "received_at": message.received_at,
            "mms_bytes": len(message.mms),
            "changes": list(message.changes),
            "recipients": recipients,
        }
        return web.json_response(body)

    async def list_messages(self, request: web.Request, key: ApiKey) -> web.Response:
        q = request.query
        state = q.get("state")
        if state is not None and state not in {s.value for s in JobState}:
            raise RequestRefused(400, "Bad request", f"state: one of {', '.join(s.value for s in JobState)}")
        cursor = None
        if q.get("cursor"):
            at, _, job_id = q["cursor"].partition("|")
            try:
                cursor = (float(at), job_id)
            except ValueError as exc:
                raise RequestRefused(400, "Bad request", "cursor: as a previous page gave it") from exc
        try:
            limit = min(max(int(q.get("limit", PAGE_SIZE)), 1), 500)
        except ValueError as exc:
            raise RequestRefused(400, "Bad request", "limit: a number") from exc
        where = Filter(
            state=JobState(state) if state else None,
            number=q.get("to") or None,
            sender=q.get("from") or None,
            search=q.get("q") or None,
            before=cursor,
        )
        found = await self.store.find(where, limit=limit + 1)
        page = found[:limit]
        body: dict[str, Any] = {"jobs": [_job_view(f.job) | {"message_id": f.job.message_id} for f in page]}
        if len(found) > limit:
            last = page[-1].job
            body["next_cursor"] = f"{last.created_at!r}|{last.id}"
        return web.json_response(body)

    async def delete_message(self, request: web.Request, key: ApiKey) -> web.Response:
        listed = await self._jobs_of(request.match_info["id"])
        now = self.clock()
        for item in listed:
            if item.job.state not in FINAL:
                await self.store.cancel(item.job.id, now=now)
        self.on_change()
        after = [await self.store.get(item.job.id) for item in listed]
        return web.json_response({"id": listed[0].job.message_id, "recipients": [_job_view(j) for j in after if j]})


def _form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """A multipart/form-data body (RFC 7578), read with the standard library's MIME parser (the web server has
    already read the body, under its time limit): the text fields by name, and the files."""
    message = BytesParser(policy=default).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise RequestRefused(400, "Bad request", "a multipart/form-data body without its parts")
    values: dict[str, list[str]] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        assert isinstance(data, bytes)
        filename = part.get_filename()
        if filename is not None or name in ("files", "file"):
            files.append((filename or "file", part.get_content_type(), data))
        else:
            values.setdefault(name, []).append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return values, files


def _text_mail(sender: str, subject: str, text: str) -> bytes:
    """A text-only mail, written directly (the email package's generator costs more than the rest of a request):
    the header values were checked for line breaks, and non-ASCII ones are RFC 2047 encoded words."""
    lines = []
    if sender:
        lines.append(f"From: {_header(sender)}")
    if subject:
        lines.append(f"Subject: {_header(subject)}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"]
    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode(maxlinelen=998)


def callback_url(value: object) -> str | None:
    """A status callback URL: http or https, with a host, nothing else (no file:, no javascript:, no mailto:)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2000 or any(c in value for c in "\r\n\0 "):
        raise RequestRefused(400, "Bad request", "status_callback: an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestRefused(400, "Bad request", "status_callback: an http:// or https:// URL")
    return value


def _numbers(values: list[Any]) -> list[str]:
    numbers = [str(v).strip() for v in values if str(v).strip()]
    if not numbers:
        raise RequestRefused(400, "Bad request", "to: at least one number")
    for n in numbers:
        if any(c in n for c in "\r\n\0<>"):
            raise RequestRefused(400, "Bad request", f"to: {n!r} is not a number")
    return numbers


def _job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "to": job.recipient.e164,
        "state": job.state.value,
        "status": job.last_status,
        "error": job.last_error,
        "attempts": job.attempts,
        "route": job.route,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }

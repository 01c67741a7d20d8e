"""What the REST aggregator routes (Twilio, Telnyx, Bandwidth) share: the message as such an API takes it (a text
and media by URL, read from the stored m-send-req), the route's life of a job (send once, then wait for the status
callback that ends it), the providers' error codes mapped to our verdicts, and what a status callback reports.

A provider's module owns its wire: the request it sends, the answer it reads, its error-code table, and how its
callbacks are signed and what they say. Each is checked in the tests against the provider's own OpenAPI document
(`../shared/rest-apis`).

Delivery rules (the Route seam, `adapters/mmsc/base.py`): the job's 128-bit token names its media
(`<public_url>/media/<token>/<n>`) and comes back in each callback (the callback URL's `ref`, or Bandwidth's
`tag`), so a callback finds its job even before the provider's message id is recorded. A request the provider
may have taken without answering is sent again at most once, after a wait (as MM7).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bridge.adapters.http import TEMPORARY_HTTP, post, reachable
from bridge.adapters.mmsc.base import PENDING_STATUS, Delivery, handset_outcome, stored_request, unknown_outcome
from bridge.config import RestSettings
from bridge.errors import PermanentFailure, TemporaryFailure, UnknownOutcome, Verdict, failure
from bridge.model import Handset, Job, StoredMessage

log = logging.getLogger("bridge.rest")

#: parts a REST API takes as text, not as media
_TEXT_TYPES = frozenset({"text/plain", "application/smil"})
#: how long to wait before sending again a request the provider may have taken, and how many times in a row
UNKNOWN_OUTCOME_WAIT_S = 300.0
UNKNOWN_OUTCOME_RESENDS = 1
#: Retry-After beyond this is not honoured as such (the job's own schedule takes over)
MAX_RETRY_AFTER_S = 3600.0

#: a provider's error code -> what it means for the job, and the RFC 3463 status a DSN reports
ErrorTable = Mapping[str, tuple[Verdict, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPart:
    """One picture, sound or clip of the message: `index` is its place among the m-send-req's parts (its URL)."""

    index: int
    media_type: str
    size: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    subject: str
    #: the text parts in slide order, with the subject before them when the API has no subject of its own
    text: str
    media: tuple[MediaPart, ...]


def outgoing(message: StoredMessage, *, max_text_chars: int, subject_field: bool = False) -> Outgoing:
    """The message as a REST API takes it. `subject_field`: the API has a subject of its own for MMS (Telnyx);
    otherwise the subject opens the text unless the text already is the subject (a mail with no body)."""
    request = stored_request(message.mms)
    texts: list[str] = []
    media: list[MediaPart] = []
    for i, part in enumerate(request.parts):
        media_type = part.content_type.media_type.lower()
        if media_type == "text/plain":
            texts.append(bytes(part.data).decode("utf-8", "replace").strip())
        elif media_type not in _TEXT_TYPES:
            name = part.content_location or f"part{i}"
            media.append(MediaPart(index=i, media_type=media_type, size=len(part.data), name=name))
    subject = request.subject or ""
    text = "\n\n".join(t for t in texts if t)
    if subject and not (subject_field and media) and text != subject and not text.startswith(subject):
        text = f"{subject}\n\n{text}" if text else subject
    if len(text) > max_text_chars:
        text = text[: max_text_chars - 2].rstrip() + " …"
    return Outgoing(subject=subject, text=text, media=tuple(media))


def retry_after_s(response: httpx.Response, now: float) -> float:
    """Seconds the `Retry-After` header asks for (delta-seconds or an HTTP date), 0 when absent or nonsense."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0
    return min(max(0.0, when - now), MAX_RETRY_AFTER_S)


def answer_failure(
    where: str,
    response: httpx.Response,
    *,
    code: str | None,
    words: str,
    table: ErrorTable,
    now: float,
) -> TemporaryFailure | PermanentFailure:
    """A provider's refusal: its error code decides when the table knows it; else the HTTP status as for every
    HTTP peer (`adapters.http`: 5xx, 401/403/408/429 temporary, 429 after its Retry-After; other 4xx 5.3.0)."""
    status = response.status_code
    detail = f"{where} answered HTTP {status}" + (f" error {code}" if code else "") + (f": {words}" if words else "")
    if status == 429:
        return TemporaryFailure(detail, "4.4.5", retry_after_s=retry_after_s(response, now))
    if code is not None and code in table:
        verdict, rfc = table[code]
        return failure(verdict, detail, rfc)
    if status >= 500 or status in TEMPORARY_HTTP:
        return TemporaryFailure(detail, "4.4.2", retry_after_s=retry_after_s(response, now))
    return PermanentFailure(detail, "5.3.0")


def report_status(code: str | None, table: ErrorTable, default: str = "5.0.0") -> str:
    """The RFC 3463 status of a failure a callback reports with `code` (a failure reported is final whatever the
    table's verdict for an API answer)."""
    if code is not None and code in table:
        return table[code][1]
    return default


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What one status callback says about one message."""

    #: the job's token, when the provider echoed it (the callback URL's `ref`, Bandwidth's `tag`)
    ref: str | None
    provider_id: str
    #: the provider's own word for the state ("delivered", "message.sent", "message-failed", …)
    state: str
    #: what it means for the job: None for a state on the way (only noted on the job's timeline)
    event: Handset | None
    status: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """A message a phone sent to our number (an SMS or MMS reply)."""

    sender: str
    to: str
    text: str
    media_urls: tuple[str, ...] = ()


class RestRoute:
    """The Route seam for an aggregator's REST API. Subclasses say how to send (`send`) and may clean up after a
    job ends (`ended`)."""

    #: the provider's name in details and logs
    provider = "REST"
    #: the longest text the API takes
    max_text_chars = 1600
    #: the API has a subject field for MMS
    subject_field = False

    settings: RestSettings

    def __init__(
        self,
        settings: RestSettings,
        *,
        name: str,
        public_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.name = name
        self.base_url = settings.base_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.status_callbacks = settings.status_callbacks
        self.clock = clock
        self.http = self.make_client(transport)

    def make_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        """The route's one HTTP client, with the provider's authentication."""
        raise NotImplementedError

    def media_url(self, job: Job, part: MediaPart) -> str:
        return f"{self.public_url}/media/{job.token}/{part.index}"

    def callback_url(self, job: Job) -> str:
        return f"{self.public_url}/rest/{self.name}/status?ref={job.token}"

    async def ready(self) -> str | None:
        return await reachable(self.base_url)

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, job: Job, message: StoredMessage | None, out: Outgoing) -> str:
        """Send the message (`message`: the stored one its media come from; None for a text alone); the
        provider's message id, or a delivery error."""
        raise NotImplementedError

    async def send_text(self, job: Job, text: str) -> str | None:
        """One plain SMS through the provider (the SMS with a link)."""
        return await self.send(job, None, Outgoing(subject="", text=text, media=()))

    async def ended(self, job: Job, message: StoredMessage) -> None:
        """The job ended (delivered or failed): let go of what the provider keeps for it."""

    async def request(
        self, where: str, method: str, url: str, *, content: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """One request with httpx's errors mapped at this boundary; a POST unanswered after it was written is an
        `UnknownOutcome` (the provider may have sent the message)."""
        if method == "POST":
            return await post(self.http, where, url, content=content, headers=headers or {})
        try:
            return await self.http.request(method, url, content=content or None, headers=headers)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"{where}: no answer in time ({type(exc).__name__})", "4.4.1") from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"{where}: {type(exc).__name__}: {exc}", "4.4.2") from exc

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        via = f" ({self.provider} status callback)"
        try:
            reported = handset_outcome(job, mmsc_id=job.mmsc_id, via=via)
        except PermanentFailure:
            await self.ended(job, message)
            raise
        if reported is not None and not reported.pending:
            await self.ended(job, message)
            return reported
        if job.mmsc_id is not None and job.route == self.name:
            return Delivery(
                mmsc_id=job.mmsc_id,
                pending=True,
                status=PENDING_STATUS,
                detail=f"at {self.provider}; no status callback yet",
            )
        out = outgoing(message, max_text_chars=self.max_text_chars, subject_field=self.subject_field)
        try:
            provider_id = await self.send(job, message, out)
        except UnknownOutcome as exc:
            raise unknown_outcome(
                job, exc, route=self.name, wait_s=UNKNOWN_OUTCOME_WAIT_S, resends=UNKNOWN_OUTCOME_RESENDS
            ) from exc
        except PermanentFailure:
            await self.ended(job, message)
            raise
        kind = "MMS" if out.media else "SMS"
        detail = f"{self.provider} took it as {kind} {provider_id}"
        if self.status_callbacks:
            return Delivery(
                mmsc_id=provider_id, pending=True, status=PENDING_STATUS, detail=f"{detail}; awaiting status"
            )
        return Delivery(mmsc_id=provider_id, detail=f"relayed: {detail}")


def dict_at(value: object, key: str) -> dict[str, Any]:
    """`value[key]` when both are JSON objects; else an empty one (a field a peer left out or got wrong)."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def list_at(value: object, key: str) -> list[Any]:
    """`value[key]` when it is a JSON array; else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, list) else []


def json_or_empty(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return {}


def message_id_from(where: str, value: object) -> str:
    """The provider's message id in a success answer; an answer without one is trouble at the provider."""
    if isinstance(value, str) and value and len(value) <= 200 and value.isprintable():
        return value
    raise TemporaryFailure(f"{where}: a success answer without a message id", "4.4.2")

"""The Bandwidth route: Messaging API v2 (`../shared/rest-apis/bandwidth/bandwidth.yml`, operations `uploadMedia`,
`createMessage`, `deleteMedia`), and its status callbacks.

Media is uploaded first (`PUT {base_url}/users/{accountId}/media/{mediaId}`, the part's own Content-Type, `204`),
then the message is sent with those URLs (`POST …/users/{accountId}/messages`, JSON `messageRequest` with the job's
token as `tag`, `202` with its `id`), and the media is deleted when the job ends. Authentication: HTTP Basic as the
API user, or OAuth2 client credentials (a token fetched from `token_url`, renewed before it expires and when
refused).

Callbacks go to the Bandwidth application's callback URL (set it to `<public_url>/rest/<route>/status`): a JSON
array of `statusCallback` (`message-delivered`, `message-failed` with `errorCode`, and states on the way) or
`inboundCallback` (`message-received`). They are not signed: the Basic credentials set on the application
(`callback_username`/`callback_password`) are required.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from bridge.adapters.http import client
from bridge.adapters.mmsc.base import stored_request
from bridge.adapters.rest.base import (
    ErrorTable,
    Inbound,
    Outgoing,
    Report,
    RestRoute,
    answer_failure,
    json_or_empty,
    list_at,
    message_id_from,
    report_status,
)
from bridge.config import BandwidthSettings
from bridge.errors import DeliveryError, RequestRefused, TemporaryFailure, Verdict
from bridge.model import Handset, Job, StoredMessage

log = logging.getLogger("bridge.rest")
P, T = Verdict.PERMANENT, Verdict.TEMPORARY

#: Bandwidth's error codes (api-docs `site/docs/messaging/errors.mdx`) -> verdict and RFC 3463 status; `field:<name>`
#: stands for an HTTP 400 whose fieldErrors name that field
ERRORS: ErrorTable = {
    "4303": (P, "5.1.3"),  # malformed or invalid To number
    "field:to": (P, "5.1.3"),
    "4404": (P, "5.7.1"),  # forbidden To
    "4406": (P, "5.1.1"),  # unallocated To
    "4720": (P, "5.1.1"),  # invalid destination address (carrier)
    "4721": (P, "5.1.1"),  # the number was deactivated
    "4432": (P, "5.7.1"),  # forbidden to this country
    "4409": (P, "5.6.1"),  # the destination does not take MMS
    "4410": (P, "5.6.0"),  # media unavailable (could not be downloaded)
    "4411": (P, "5.3.4"),  # combined size of the media too large
    "4412": (P, "5.6.1"),  # media content invalid (type)
    "4711": (P, "5.3.4"),  # media too large for the carrier
    "4712": (P, "5.6.1"),  # media type not supported by the carrier
}

_FINAL = {"message-delivered": Handset.ACKNOWLEDGED, "message-failed": Handset.FAILED}


class ClientCredentials(httpx.Auth):
    """OAuth2 client credentials (RFC 6749 4.4): a Bearer token from `token_url`, fetched when there is none or it
    is about to expire, and once more when the API refuses it."""

    def __init__(
        self, *, token_url: str, client_id: str, client_secret: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.token_url = token_url
        self.basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.clock = clock
        self.token = ""
        self.until = 0.0

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            content=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {self.basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )

    def _take(self, response: httpx.Response) -> None:
        answer = json_or_empty(response)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            # the request it was for is not sent: a temporary failure an operator mends (the client's secret)
            raise TemporaryFailure(f"Bandwidth OAuth2 token: HTTP {response.status_code} without a token", "4.4.2")
        expires = answer.get("expires_in") if isinstance(answer, dict) else None
        lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else 3600.0
        self.token, self.until = token, self.clock() + lifetime - min(60.0, lifetime / 2)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # (an async flow reads the bodies it needs itself: httpx's `requires_response_body` is for sync flows)
        if not self.token or self.clock() >= self.until:
            response = yield self._token_request()
            await response.aread()
            self._take(response)
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            renewed = yield self._token_request()
            await renewed.aread()
            self._take(renewed)
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


class BandwidthRoute(RestRoute):
    provider = "Bandwidth"
    max_text_chars = 2048

    settings: BandwidthSettings

    def make_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        s = self.settings
        http = client(timeout_s=s.timeout_s, username=s.username, password=s.password, transport=transport)
        if s.client_id:
            http.auth = ClientCredentials(
                token_url=s.token_url, client_id=s.client_id, client_secret=s.client_secret, clock=self.clock
            )
        return http

    def media_location(self, job: Job, index: int) -> str:
        return f"{self.base_url}/users/{self.settings.account_id}/media/mms-bridge-{job.id}-{index}"

    async def send(self, job: Job, message: StoredMessage | None, out: Outgoing) -> str:
        s = self.settings
        where = f"Bandwidth ({self.name})"
        urls = []
        parts = stored_request(message.mms).parts if out.media and message is not None else ()
        for part in out.media:
            url = self.media_location(job, part.index)
            # PUT overwrites: an upload sent again after a crash or a failure leaves one file
            response = await self.request(
                where, "PUT", url, content=bytes(parts[part.index].data), headers={"Content-Type": part.media_type}
            )
            if response.status_code not in (200, 201, 204):
                raise self._refusal(where + " media upload", response)
            urls.append(url)
        body: dict[str, Any] = {"applicationId": s.application_id, "to": [job.recipient.e164], "from": s.from_number}
        if out.text:
            body["text"] = out.text
        if urls:
            body["media"] = urls
        body["tag"] = job.token
        response = await self.request(
            where,
            "POST",
            f"{self.base_url}/users/{s.account_id}/messages",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if response.status_code in (200, 201, 202):
            answer = json_or_empty(response)
            return message_id_from(where, answer.get("id") if isinstance(answer, dict) else None)
        raise self._refusal(where, response)

    def _refusal(self, where: str, response: httpx.Response) -> DeliveryError:
        answer = json_or_empty(response)
        answer = answer if isinstance(answer, dict) else {}
        named = [str(f.get("fieldName", "")) for f in list_at(answer, "fieldErrors") if isinstance(f, dict)]
        code = next((f"field:{n}" for n in named if f"field:{n}" in ERRORS), None)
        words = " — ".join(str(answer[k]) for k in ("type", "description") if answer.get(k))
        return answer_failure(where, response, code=code, words=words[:200], table=ERRORS, now=self.clock())

    async def ended(self, job: Job, message: StoredMessage) -> None:
        """Delete the uploaded media (kept 48 h by Bandwidth otherwise); a failure is logged, not retried."""
        if not message.mms:
            return
        try:
            request = stored_request(message.mms)
        except DeliveryError:
            return
        for index, part in enumerate(request.parts):
            if part.content_type.media_type.lower() in ("text/plain", "application/smil"):
                continue
            try:
                response = await self.request("Bandwidth", "DELETE", self.media_location(job, index))
            except DeliveryError as exc:
                log.warning("job=%s route=%s media_delete=failed error=%s", job.id, self.name, exc.detail)
                return
            if response.status_code not in (200, 204, 404):
                log.warning("job=%s route=%s media_delete=failed http=%d", job.id, self.name, response.status_code)


def read_callback(settings: BandwidthSettings, *, headers: dict[str, str], body: bytes) -> list[Report | Inbound]:
    """A callback Bandwidth posted (a JSON array of events): refused unless it carries the application's Basic
    credentials."""
    expected = base64.b64encode(f"{settings.callback_username}:{settings.callback_password}".encode())
    given = headers.get("authorization", "").removeprefix("Basic ").strip()
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
        raise RequestRefused(401, "Unauthorized", "the Bandwidth application's callback credentials are needed")
    try:
        events = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise RequestRefused(400, "Bad Request", "not JSON") from exc
    events = events if isinstance(events, list) else [events]
    found: list[Report | Inbound] = []
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, dict) or not isinstance(event.get("type"), str):
            raise RequestRefused(400, "Bad Request", "each event needs its type and message")
        kind = event["type"]
        if kind == "message-received":
            found.append(
                Inbound(
                    sender=str(message.get("from", "")),
                    to=str(event.get("to", "")),
                    text=str(message.get("text") or ""),
                    media_urls=tuple(str(m) for m in list_at(message, "media")),
                )
            )
            continue
        code = str(event["errorCode"]) if event.get("errorCode") is not None else None
        handset = _FINAL.get(kind)
        words = str(event.get("description") or "")[:200]
        detail = f"Bandwidth: {kind}" + (f" (error {code}: {words})" if code else "")
        found.append(
            Report(
                ref=str(message["tag"]) if message.get("tag") else None,
                provider_id=str(message.get("id", "")),
                state=kind,
                event=handset,
                status=report_status(code, ERRORS) if handset is Handset.FAILED else None,
                detail=detail,
            )
        )
    return found

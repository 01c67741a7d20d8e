"""The Telnyx route: Messaging API v2 (`../shared/rest-apis/telnyx/spec3.yml`, operation `SendMessage`), and its
signed webhooks.

Sending: `POST {base_url}/messages` with JSON `CreateMessageRequest` (`from` or `messaging_profile_id`, `to`,
`text`, `media_urls` — Telnyx fetches them —, `subject`, `type` SMS/MMS, `webhook_url`), `Authorization: Bearer
<API key>`; `200` with `{"data": {"id": …}}`. Refusals: `{"errors": [{"code", "title", "detail"}]}`; the first
code decides through `ERRORS`.

Webhooks (`#/webhooks/deliveryUpdate`): `message.sent` and `message.finalized` events with the recipient's status in
`payload.to[].status`, and `message.received` for a phone's message to us. Each carries `telnyx-timestamp` and
`telnyx-signature-ed25519`, the Base64 Ed25519 signature of `"<timestamp>|<raw body>"` by the account's key. A
webhook whose signature does not verify, or whose timestamp is older (or newer) than `max_webhook_age_s`, is
refused — so a captured webhook cannot be replayed later; within that window an event id already taken is
answered and ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bridge.adapters.http import client
from bridge.adapters.rest.base import (
    ErrorTable,
    Inbound,
    Outgoing,
    Report,
    RestRoute,
    answer_failure,
    dict_at,
    json_or_empty,
    list_at,
    message_id_from,
    report_status,
)
from bridge.config import TelnyxSettings
from bridge.errors import RequestRefused, Verdict
from bridge.model import Handset, Job, StoredMessage

P, T = Verdict.PERMANENT, Verdict.TEMPORARY

#: Telnyx's error codes (developers.telnyx.com/api/errors, …/messaging/messages/error-codes) -> verdict, RFC 3463
ERRORS: ErrorTable = {
    "40310": (P, "5.1.3"),  # invalid 'to' address
    "10002": (P, "5.1.3"),  # invalid phone number
    "10016": (P, "5.1.3"),  # the number must be +E.164
    "40001": (P, "5.1.1"),  # not routable (a landline)
    "40012": (P, "5.1.1"),  # invalid destination number
    "40008": (P, "5.0.0"),  # undeliverable
    "40300": (P, "5.7.1"),  # blocked: the recipient sent STOP
    "40002": (P, "5.7.1"),  # blocked as spam (temporary on Telnyx's side, final for this message)
    "40003": (P, "5.7.1"),  # blocked as spam
    "40013": (T, "4.3.0"),  # invalid source number: our from_number, which an operator mends
    "10004": (P, "5.3.0"),  # a missing parameter
}

#: the recipient's status in a webhook -> what it means for the job (absent: a state on the way)
_FINAL = {
    "delivered": Handset.ACKNOWLEDGED,
    # the carrier sent no receipt: Telnyx handed it over and knows no more; nothing better will come
    "delivery_unconfirmed": Handset.ACKNOWLEDGED,
    "sending_failed": Handset.FAILED,
    "delivery_failed": Handset.FAILED,
    "expired": Handset.FAILED,
}


class TelnyxRoute(RestRoute):
    provider = "Telnyx"
    max_text_chars = 1600
    subject_field = True

    settings: TelnyxSettings

    def make_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        http = client(timeout_s=self.settings.timeout_s, transport=transport)
        http.headers["Authorization"] = f"Bearer {self.settings.api_key}"
        return http

    async def send(self, job: Job, message: StoredMessage | None, out: Outgoing) -> str:
        s = self.settings
        body: dict[str, Any] = {"to": job.recipient.e164}
        if s.from_number:
            body["from"] = s.from_number
        if s.messaging_profile_id:
            body["messaging_profile_id"] = s.messaging_profile_id
        if out.text:
            body["text"] = out.text
        if out.media:
            body["type"] = "MMS"
            body["media_urls"] = [self.media_url(job, part) for part in out.media]
            if out.subject:
                body["subject"] = out.subject
        else:
            body["type"] = "SMS"
        if self.status_callbacks:
            body["webhook_url"] = self.callback_url(job)
            body["use_profile_webhooks"] = False
        where = f"Telnyx ({self.name})"
        response = await self.request(
            where,
            "POST",
            f"{self.base_url}/messages",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        answer = json_or_empty(response)
        if response.status_code in (200, 201, 202):
            data = answer.get("data") if isinstance(answer, dict) else None
            return message_id_from(where, data.get("id") if isinstance(data, dict) else None)
        code, words = _first_error(answer)
        raise answer_failure(where, response, code=code, words=words, table=ERRORS, now=self.clock())


def _first_error(answer: object) -> tuple[str | None, str]:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    words = " — ".join(str(first[k]) for k in ("title", "detail") if first.get(k))
    return (str(code) if code is not None else None), words[:200]


def public_key(settings: TelnyxSettings) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(settings.public_key))


def read_callback(
    settings: TelnyxSettings,
    key: Ed25519PublicKey,
    *,
    headers: dict[str, str],
    body: bytes,
    now: float,
    seen: OrderedDict[str, float],
) -> Report | Inbound | None:
    """A webhook Telnyx posted: refused unless signed by the account's key within `max_webhook_age_s`; None for an
    event already taken (a retry) or one that says nothing about a message's fate."""
    stamp = headers.get("telnyx-timestamp", "")
    try:
        signature = base64.b64decode(headers.get("telnyx-signature-ed25519", ""), validate=True)
        key.verify(signature, stamp.encode("ascii") + b"|" + body)
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise RequestRefused(403, "Forbidden", "telnyx-signature-ed25519 missing or wrong") from exc
    age = now - int(stamp) if stamp.isdigit() and len(stamp) < 16 else None
    if age is None or abs(age) > settings.max_webhook_age_s:
        raise RequestRefused(403, "Forbidden", "telnyx-timestamp too old or too far ahead (a replay?)")
    try:
        event = json.loads(body)
        data = event["data"]
        kind, event_id, payload = str(data["event_type"]), str(data["id"]), data["payload"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RequestRefused(400, "Bad Request", "not a Telnyx event (data.event_type, data.id, data.payload)") from exc
    while seen and next(iter(seen.values())) < now - settings.max_webhook_age_s:
        seen.popitem(last=False)
    if event_id in seen:
        return None
    seen[event_id] = now
    if not isinstance(payload, dict):
        raise RequestRefused(400, "Bad Request", "data.payload is not an object")
    if kind == "message.received":
        sender, to, media = dict_at(payload, "from"), list_at(payload, "to"), list_at(payload, "media")
        return Inbound(
            sender=str(sender.get("phone_number", "")),
            to=str(to[0].get("phone_number", "")) if to and isinstance(to[0], dict) else "",
            text=str(payload.get("text") or ""),
            media_urls=tuple(str(m["url"]) for m in media if isinstance(m, dict) and "url" in m),
        )
    if kind not in ("message.sent", "message.finalized"):
        return None
    recipients = list_at(payload, "to")
    first = recipients[0] if recipients and isinstance(recipients[0], dict) else {}
    state = str(first.get("status", ""))
    code, words = _first_error(payload)
    found = _FINAL.get(state) if kind == "message.finalized" else None
    detail = f"Telnyx: {kind} {state}".rstrip() + (f" (error {code}{': ' + words if words else ''})" if code else "")
    status = None
    if found is Handset.FAILED:
        status = "4.4.7" if state == "expired" else report_status(code, ERRORS)
    return Report(
        ref=None, provider_id=str(payload.get("id", "")), state=state, event=found, status=status, detail=detail
    )

"""The Twilio route: Programmable Messaging, REST API 2010-04-01 (`../shared/rest-apis/twilio/twilio_api_v2010.json`,
operation `CreateMessage`), and its status callbacks.

Sending: `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded (`To`, `From` or
`MessagingServiceSid`, `Body`, one `MediaUrl` per part — Twilio fetches them —, `StatusCallback`), HTTP Basic as
the account (SID and Auth Token) or an API key; `201` with the Message resource (`sid`). Refusals carry
`{"code", "message", "more_info", "status"}`; `code` decides through `ERRORS`.

Callbacks: form-encoded `MessageStatus` (and `ErrorCode`), signed in `X-Twilio-Signature`: Base64 of HMAC-SHA1
keyed with the Auth Token over the full URL Twilio called followed by each POST parameter's name and value, sorted
by name (twilio.com/docs/usage/webhooks/webhooks-security).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode

import httpx

from bridge.adapters.http import client
from bridge.adapters.rest.base import (
    ErrorTable,
    Inbound,
    Outgoing,
    Report,
    RestRoute,
    answer_failure,
    json_or_empty,
    message_id_from,
    report_status,
)
from bridge.config import TwilioSettings
from bridge.errors import RequestRefused, Verdict
from bridge.model import Handset, Job, StoredMessage

P, T = Verdict.PERMANENT, Verdict.TEMPORARY

#: Twilio's error codes (twilio.com/docs/api/errors/<code>) -> verdict and RFC 3463 status
ERRORS: ErrorTable = {
    "21211": (P, "5.1.3"),  # the 'To' number is not a valid phone number
    "21604": (P, "5.1.3"),  # 'To' is required
    "21614": (P, "5.1.1"),  # 'To' is not a valid mobile number
    "21635": (P, "5.1.1"),  # 'To' is a landline
    "21612": (P, "5.1.1"),  # Twilio cannot route to this number
    "21408": (P, "5.7.1"),  # permission to send to this region is not enabled
    "21610": (P, "5.7.1"),  # the recipient replied STOP (unsubscribed)
    "30004": (P, "5.7.1"),  # message blocked
    "30007": (P, "5.7.1"),  # filtered by the carrier
    "21602": (P, "5.6.0"),  # Body or MediaUrl is required
    "12300": (P, "5.6.1"),  # invalid Content-Type of a media URL (unsupported type)
    "21623": (P, "5.3.4"),  # more than 10 media
    "11751": (P, "5.3.4"),  # media exceeds the size limit
    "30019": (P, "5.3.4"),  # content size exceeds the carrier's limit
    # the media URLs could not be fetched: our public_url (or its TLS) is wrong, which an operator mends
    "21620": (T, "4.3.0"),
    "30003": (P, "4.4.1"),  # unreachable destination handset (switched off, out of coverage): final for Twilio
    "30005": (P, "5.1.1"),  # unknown destination handset
    "30006": (P, "5.1.1"),  # landline or unreachable carrier
    "30008": (P, "5.0.0"),  # unknown error
    "30001": (T, "4.4.5"),  # queue overflow
    "20429": (T, "4.4.5"),  # too many requests
}

#: MessageStatus -> what it means for the job (absent: a state on the way)
_FINAL = {
    "delivered": Handset.ACKNOWLEDGED,
    "read": Handset.ACKNOWLEDGED,
    "partially_delivered": Handset.ACKNOWLEDGED,
    "undelivered": Handset.FAILED,
    "failed": Handset.FAILED,
    "canceled": Handset.FAILED,
}


class TwilioRoute(RestRoute):
    provider = "Twilio"
    max_text_chars = 1600

    settings: TwilioSettings

    def make_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        s = self.settings
        user, password = (s.api_key_sid, s.api_key_secret) if s.api_key_sid else (s.account_sid, s.auth_token)
        return client(timeout_s=s.timeout_s, username=user, password=password, transport=transport)

    async def send(self, job: Job, message: StoredMessage | None, out: Outgoing) -> str:
        s = self.settings
        form: list[tuple[str, str]] = [("To", job.recipient.e164)]
        form.append(("From", s.from_number) if s.from_number else ("MessagingServiceSid", s.messaging_service_sid))
        if out.text:
            form.append(("Body", out.text))
        form.extend(("MediaUrl", self.media_url(job, part)) for part in out.media)
        if self.status_callbacks:
            form.append(("StatusCallback", self.callback_url(job)))
        where = f"Twilio ({self.name})"
        url = f"{self.base_url}/2010-04-01/Accounts/{s.account_sid}/Messages.json"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        response = await self.request(where, "POST", url, content=urlencode(form).encode(), headers=headers)
        body = json_or_empty(response)
        if response.status_code in (200, 201):
            return message_id_from(where, body.get("sid") if isinstance(body, dict) else None)
        code = body.get("code") if isinstance(body, dict) else None
        words = body.get("message") if isinstance(body, dict) else None
        raise answer_failure(
            where,
            response,
            code=str(code) if code is not None else None,
            words=str(words or "")[:200],
            table=ERRORS,
            now=self.clock(),
        )


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a form-encoded callback posted to `url`."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def read_callback(settings: TwilioSettings, *, url: str, headers: dict[str, str], body: bytes) -> Report | Inbound:
    """A callback Twilio posted to `url` (the full URL it was given, query included): refused unless signed with
    the Auth Token."""
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestRefused(400, "Bad Request", "not a form-encoded body") from exc
    given = headers.get("x-twilio-signature", "")
    expected = signature(settings.auth_token, url, params)
    if not given or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
        raise RequestRefused(403, "Forbidden", "X-Twilio-Signature missing or wrong")
    fields = dict(params)
    if fields.get("AccountSid") and fields["AccountSid"] != settings.account_sid:
        raise RequestRefused(403, "Forbidden", "a callback for another account")
    state = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
    sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
    if state == "received" or ("MessageStatus" not in fields and "Body" in fields):
        count = int(fields.get("NumMedia", "0")) if fields.get("NumMedia", "0").isdigit() else 0
        urls = tuple(fields[f"MediaUrl{i}"] for i in range(min(count, 10)) if f"MediaUrl{i}" in fields)
        return Inbound(
            sender=fields.get("From", ""), to=fields.get("To", ""), text=fields.get("Body", ""), media_urls=urls
        )
    if not state or not sid:
        raise RequestRefused(400, "Bad Request", "MessageSid and MessageStatus are needed")
    event = _FINAL.get(state)
    code = fields.get("ErrorCode") or None
    detail = f"Twilio: {state}" + (f" (error {code})" if code else "")
    status = report_status(code, ERRORS) if event is Handset.FAILED else None
    return Report(ref=None, provider_id=sid, state=state, event=event, status=status, detail=detail)

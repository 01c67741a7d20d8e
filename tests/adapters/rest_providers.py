"""Loopback stand-ins for Twilio, Telnyx and Bandwidth that behave as their own OpenAPI documents say
(`../shared/rest-apis`, read in place).

Each one:
- validates **every request** the bridge sends against its provider's document with openapi-core, the request
  body's schema closed (`additionalProperties: false`) so that a misspelt field fails; a request that does not
  validate is answered 400 and kept in `invalid` (the tests assert it stays empty);
- checks the credentials (Basic, Bearer, or an OAuth2 token it issued itself);
- fetches each media URL as the provider would (Twilio, Telnyx) and checks its Content-Type and size against the
  provider's documented limits — or takes uploads (Bandwidth) and checks the media named are its own;
- answers with bodies that themselves validate against the document (`responses_checked` counts them);
- then posts its status callbacks signed exactly as the provider signs them (the test holds the keys): Twilio's
  X-Twilio-Signature (HMAC-SHA1 with the Auth Token), Telnyx's Ed25519 over `timestamp|body`, Bandwidth's Basic
  credentials of the application, each body checked against the document's schema first.

What each send gets is scripted: `plan` holds the answers for the next sends (`Plan`); an empty plan takes the
message and reports it delivered.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import hashlib
import hmac
import json
import secrets
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import yaml
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, OAS31Validator

from tests.paths import SHARED

REST_APIS = SHARED / "rest-apis"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-of-the-test"
TELNYX_KEY = "KEY0123456789-telnyx-test"
BANDWIDTH_ACCOUNT = "9900000"
BANDWIDTH_APP = "app-0000-1111"
BANDWIDTH_USER, BANDWIDTH_PASSWORD = "api-user", "api-password"
BANDWIDTH_CLIENT, BANDWIDTH_SECRET = "client-id-1", "client-secret-1"
CALLBACK_USER, CALLBACK_PASSWORD = "bw-callbacks", "bw-callback-secret"
FROM = "+15550100"

#: Twilio: "5 MB per file for jpeg/jpg/png/gif, 500 KB for other accepted types" (MediaUrl's description)
TWILIO_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
TWILIO_OTHER_TYPES = frozenset({"audio/amr", "audio/mp4", "audio/mpeg", "video/mp4", "video/3gpp", "text/vcard"})


@functools.cache
def document(provider: str) -> dict[str, Any]:
    path = {
        "twilio": REST_APIS / "twilio" / "twilio_api_v2010.json",
        "telnyx": REST_APIS / "telnyx" / "spec3.yml",
        "bandwidth": REST_APIS / "bandwidth" / "bandwidth.yml",
    }[provider]
    if path.suffix == ".json":
        loaded: dict[str, Any] = json.loads(path.read_text())
    else:
        loaded = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    return loaded


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for key in schema["$ref"].removeprefix("#/").split("/"):
            node = node[key.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


#: the request bodies the bridge sends: (path, method, media type) in each document
_BODIES = {
    "twilio": [("/2010-04-01/Accounts/{AccountSid}/Messages.json", "post", "application/x-www-form-urlencoded")],
    "telnyx": [("/messages", "post", "application/json")],
    "bandwidth": [("/users/{accountId}/messages", "post", "application/json")],
}


@functools.cache
def checker(provider: str) -> OpenAPI:
    """openapi-core over the provider's document, with the bodies the bridge sends closed to unknown fields."""
    doc = copy.deepcopy(document(provider))
    for path, method, media_type in _BODIES[provider]:
        body = _resolve(doc, doc["paths"][path][method]["requestBody"])
        schema = _resolve(doc, body["content"][media_type]["schema"])
        schema.setdefault("additionalProperties", False)
    # Twilio's and Bandwidth's security is Basic; openapi-core checks its presence and form only, we check values
    return OpenAPI.from_dict(doc, config=Config(spec_validator_cls=None))


@functools.cache
def _schema_validator(provider: str, name: str) -> Any:
    doc = document(provider)
    cls = OAS31Validator if doc["openapi"].startswith("3.1") else OAS30Validator
    # the whole document as the root, so that its local references resolve; the root's $ref is the schema
    return cls({**doc, "$ref": f"#/components/schemas/{name}"})


def check_schema(provider: str, name: str, value: object) -> None:
    """`value` validates against the document's `#/components/schemas/<name>` (raises otherwise)."""
    errors = sorted(str(e.message) for e in _schema_validator(provider, name).iter_errors(value))
    assert not errors, f"{provider} {name}: {errors[:3]}"


@dataclass
class Plan:
    """What one send gets: `status` the HTTP answer (2xx: taken), `code` the provider's error code with it,
    `retry_after` for a 429; then, for a message taken, the state the callbacks end with and its error code."""

    status: int = 0
    code: str | None = None
    retry_after: str | None = None
    final: str = "delivered"
    final_code: str | None = None
    #: seconds before the callbacks are posted
    callback_delay_s: float = 0.05


@dataclass
class Sent:
    """A message the provider took."""

    id: str
    to: str
    text: str
    media: list[tuple[str, int]]
    callback_url: str | None
    kind: str = ""


@dataclass
class Provider:
    name: str
    plan: list[Plan] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    #: requests that failed the document's validation, with the reasons
    invalid: list[str] = field(default_factory=list)
    #: media that broke the documented limits (type, size, count) or could not be fetched
    media_problems: list[str] = field(default_factory=list)
    requests: int = 0
    #: when each send request (past authentication and validation) came
    send_times: list[float] = field(default_factory=list)
    responses_checked: int = 0
    callbacks_posted: list[tuple[str, int]] = field(default_factory=list)
    #: every callback exactly as posted (url, headers, body), for replays and forgeries
    callback_log: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def next_plan(self) -> Plan:
        self.send_times.append(time.monotonic())
        return self.plan.pop(0) if self.plan else Plan()

    async def start(self, app: web.Application) -> None:
        checker(self.name)  # the document is read once per test run, before the first request waits on it
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def validate(self, request: web.Request, body: bytes, *, host_url: str, path: str) -> list[str]:
        """The request against the document; the reasons it fails (also kept in `invalid`)."""
        self.requests += 1
        mock = MockRequest(
            host_url,
            request.method.lower(),
            path,
            args=dict(request.query) or None,
            headers=dict(request.headers),
            data=body or None,
            content_type=request.content_type,
        )
        with warnings.catch_warnings():
            # openapi-core skips Bandwidth's OAuth2 scheme with this warning; `authorised` checks the token itself
            warnings.filterwarnings("ignore", "Unsupported scheme type")
            result = checker(self.name).unmarshal_request(mock)
        reasons = [_reason(e) for e in result.errors]
        self.invalid.extend(f"{request.method} {path}: {r}" for r in reasons)
        return reasons

    def answer(
        self, request: web.Request, body: bytes, *, host_url: str, path: str, status: int, value: object
    ) -> web.Response:
        """A JSON answer, validated against the document's response for `status` first."""
        data = json.dumps(value).encode()
        mock = MockRequest(host_url, request.method.lower(), path, headers=dict(request.headers),
                           data=body or None, content_type=request.content_type)  # fmt: skip
        checker(self.name).validate_response(
            mock, MockResponse(data, status_code=status, content_type="application/json")
        )
        self.responses_checked += 1
        return web.Response(status=status, body=data, content_type="application/json")

    async def fetch_media(self, urls: list[str]) -> list[tuple[str, int]]:
        """Each media URL fetched as the provider does; (content type, size) of each."""
        found = []
        async with httpx.AsyncClient(timeout=10) as http:
            for url in urls:
                response = await http.get(url)
                if response.status_code != 200:
                    self.media_problems.append(f"{url}: HTTP {response.status_code}")
                    continue
                found.append((response.headers.get("content-type", "").split(";")[0], len(response.content)))
        return found


def _reason(error: Exception) -> str:
    nested = getattr(error, "schema_errors", None) or getattr(getattr(error, "__cause__", None), "schema_errors", None)
    if nested:
        return f"{error}: " + "; ".join(str(e.message) for e in nested)
    cause = error.__cause__
    return f"{error}" + (f": {cause}" if cause else "")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---------------------------------------------------------------------------------------------------------- Twilio


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """As Twilio signs: the URL, then each parameter's name and value, by name (the test's own writing of it)."""
    payload = url
    for name in sorted({n for n, _ in params}):
        for value in sorted(v for n, v in params if n == name):
            payload += name + value
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class FakeTwilio(Provider):
    HOST = "https://api.twilio.com"

    def __init__(self, **kw: Any) -> None:
        super().__init__(name="twilio", **kw)
        self.credentials = {_basic(TWILIO_SID, TWILIO_TOKEN)}

    async def start_server(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        await self.start(app)

    async def create(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Authorization") not in self.credentials:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if self.validate(request, body, host_url=self.HOST, path=request.path):
            return web.json_response({"code": 21601, "message": "invalid request", "status": 400}, status=400)
        plan = self.next_plan()
        if plan.status and plan.status >= 300:
            headers = {"Retry-After": plan.retry_after} if plan.retry_after else {}
            error = {
                "code": int(plan.code or 20500),
                "message": "scripted refusal",
                "more_info": "",
                "status": plan.status,
            }
            return web.json_response(error, status=plan.status, headers=headers)
        form = parse_qsl(body.decode(), keep_blank_values=True)
        fields = dict(form)
        urls = [v for k, v in form if k == "MediaUrl"]
        if len(urls) > 10:
            return web.json_response({"code": 21623, "message": "too many media", "status": 400}, status=400)
        if len(fields.get("Body", "")) > 1600:
            self.invalid.append("Body over 1,600 characters")
        media = await self.fetch_media(urls)
        for content_type, size in media:
            limit = 5_000_000 if content_type in TWILIO_IMAGE_TYPES else 500_000
            if content_type not in TWILIO_IMAGE_TYPES | TWILIO_OTHER_TYPES or size > limit:
                self.media_problems.append(f"{content_type} of {size} bytes")
        sid = "SM" + secrets.token_hex(16)
        self.sent.append(Sent(id=sid, to=fields["To"], text=fields.get("Body", ""), media=media,
                              callback_url=fields.get("StatusCallback"), kind="MMS" if urls else "SMS"))  # fmt: skip
        resource = {
            "sid": sid, "account_sid": TWILIO_SID, "to": fields["To"], "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"), "body": fields.get("Body", ""),
            "status": "queued", "num_media": str(len(urls)), "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "date_created": "Sun, 29 Nov 2026 12:00:00 +0000", "date_updated": "Sun, 29 Nov 2026 12:00:00 +0000",
            "date_sent": None, "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}/Media.json"},
        }  # fmt: skip
        if fields.get("StatusCallback"):
            self.later(self.report(fields["StatusCallback"], sid, fields, plan))
        return self.answer(request, body, host_url=self.HOST, path=request.path, status=201, value=resource)

    def callback(
        self, url: str, sid: str, fields: dict[str, str], status: str, code: str | None
    ) -> tuple[dict[str, str], bytes]:
        params = [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", TWILIO_SID),
                  ("From", fields.get("From", FROM)), ("To", fields["To"]), ("MessageStatus", status),
                  ("SmsStatus", status), ("ApiVersion", "2010-04-01")]  # fmt: skip
        if code:
            params.append(("ErrorCode", code))
        headers = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        return headers, urlencode(params).encode()

    async def report(self, url: str, sid: str, fields: dict[str, str], plan: Plan) -> None:
        await asyncio.sleep(plan.callback_delay_s)
        for status, code in (("sent", None), (plan.final, plan.final_code)):
            headers, body = self.callback(url, sid, fields, status, code)
            await post_callback(self, url, headers, body)


# ---------------------------------------------------------------------------------------------------------- Telnyx


class FakeTelnyx(Provider):
    HOST = "https://api.telnyx.com"

    def __init__(self, **kw: Any) -> None:
        super().__init__(name="telnyx", **kw)
        self.private_key = Ed25519PrivateKey.generate()
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode()

    async def start_server(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/v2/messages", self.create)
        await self.start(app)

    def error(self, status: int, code: str, title: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(
            {"errors": [{"code": code, "title": title, "detail": title}]}, status=status, headers=headers
        )

    async def create(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Authorization") != f"Bearer {TELNYX_KEY}":
            return self.error(401, "10009", "Authentication failed")
        if self.validate(request, body, host_url=self.HOST, path=request.path):
            return self.error(400, "10015", "Invalid request")
        plan = self.next_plan()
        if plan.status and plan.status >= 300:
            headers = {"Retry-After": plan.retry_after} if plan.retry_after else None
            return self.error(plan.status, plan.code or "10007", "scripted refusal", headers)
        fields = json.loads(body)
        urls = fields.get("media_urls", [])
        if len(urls) > 10:
            return self.error(400, "40305", "too many media")
        media = await self.fetch_media(urls)
        if sum(size for _, size in media) >= 1_000_000:
            self.media_problems.append(f"total media {sum(size for _, size in media)} bytes, not under 1 MB")
        if fields.get("type") == "MMS" and not urls:
            self.invalid.append("type MMS without media_urls")
        message_id = str(uuid.uuid4())
        self.sent.append(Sent(id=message_id, to=fields["to"], text=fields.get("text", ""), media=media,
                              callback_url=fields.get("webhook_url"), kind=fields.get("type", "")))  # fmt: skip
        payload = self.payload(message_id, fields, "queued")
        if fields.get("webhook_url"):
            self.later(self.report(fields["webhook_url"], message_id, fields, plan))
        return self.answer(request, body, host_url=self.HOST, path=request.path, status=200, value={"data": payload})

    @staticmethod
    def payload(message_id: str, fields: dict[str, Any], status: str, code: str | None = None) -> dict[str, Any]:
        return {
            "record_type": "message", "direction": "outbound", "id": message_id, "type": fields.get("type", "SMS"),
            "from": {"phone_number": fields.get("from", FROM)},
            "to": [{"phone_number": fields["to"], "status": status, "carrier": "T-MOBILE USA",
                    "line_type": "Wireless"}],
            "text": fields.get("text", ""), "media": [{"url": u} for u in fields.get("media_urls", [])],
            "webhook_url": fields.get("webhook_url"), "encoding": "GSM-7", "parts": 1, "tags": [],
            "errors": [{"code": code, "title": "scripted failure", "detail": "scripted failure"}] if code else [],
        }  # fmt: skip

    def event(
        self, kind: str, payload: dict[str, Any], url: str, *, at: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        event = {
            "data": {"event_type": kind, "id": str(uuid.uuid4()), "occurred_at": "2026-11-29T12:00:00.000+00:00",
                     "record_type": "event", "payload": payload},
            "meta": {"attempt": 1, "delivered_to": url},
        }  # fmt: skip
        check_schema("telnyx", "InboundMessageEvent" if kind == "message.received" else "OutboundMessageEvent", event)
        body = json.dumps(event).encode()
        stamp = str(int(at if at is not None else time.time()))
        signature = self.private_key.sign(stamp.encode() + b"|" + body)
        headers = {"telnyx-timestamp": stamp, "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
                   "Content-Type": "application/json"}  # fmt: skip
        return headers, body

    async def report(self, url: str, message_id: str, fields: dict[str, Any], plan: Plan) -> None:
        await asyncio.sleep(plan.callback_delay_s)
        final = {"failed": "delivery_failed"}.get(plan.final, plan.final)
        for kind, status, code in (("message.sent", "sent", None), ("message.finalized", final, plan.final_code)):
            headers, body = self.event(kind, self.payload(message_id, fields, status, code), url)
            await post_callback(self, url, headers, body)


# ------------------------------------------------------------------------------------------------------- Bandwidth


class FakeBandwidth(Provider):
    HOST = "https://messaging.bandwidth.com"

    def __init__(self, *, token_lifetime_s: int = 3600, **kw: Any) -> None:
        super().__init__(name="bandwidth", **kw)
        self.uploads: dict[str, tuple[str, bytes]] = {}
        self.deleted: list[str] = []
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.token_lifetime_s = token_lifetime_s
        #: the application's callback URL (set by the test: the bridge's /rest/<route>/status)
        self.callback_url = ""

    async def start_server(self) -> None:
        app = web.Application(client_max_size=8 << 20)
        app.router.add_put("/api/v2/users/{account}/media/{media_id}", self.upload)
        app.router.add_delete("/api/v2/users/{account}/media/{media_id}", self.delete)
        app.router.add_post("/api/v2/users/{account}/messages", self.create)
        app.router.add_post("/api/v1/oauth2/token", self.token)
        await self.start(app)

    def authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        if given == _basic(BANDWIDTH_USER, BANDWIDTH_PASSWORD):
            return True
        token = given.removeprefix("Bearer ")
        return given.startswith("Bearer ") and self.tokens.get(token, 0) > time.time()

    def error(self, status: int, kind: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"type": kind, "description": description}, status=status, headers=headers)

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.read()
        if request.headers.get("Authorization") != _basic(BANDWIDTH_CLIENT, BANDWIDTH_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        if dict(parse_qsl(body.decode())).get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_lifetime_s
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime_s})

    def path(self, request: web.Request) -> str:
        return request.path  # /api/v2/... as under the document's server https://messaging.bandwidth.com/api/v2

    async def upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.authorised(request):
            return self.error(401, "unauthorized", "Authentication failed")
        if self.validate(request, body, host_url=self.HOST, path=self.path(request)):
            return self.error(415, "invalid-media-type", "not a listed media type")
        if len(body) > 3_750_000:  # uploads up to 3.75 MB (api-docs mediaManagement)
            self.media_problems.append(f"upload of {len(body)} bytes")
        self.uploads[request.match_info["media_id"]] = (request.content_type, body)
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        await request.read()
        if not self.authorised(request):
            return self.error(401, "unauthorized", "Authentication failed")
        if self.validate(request, b"", host_url=self.HOST, path=self.path(request)):
            return self.error(400, "request-validation", "invalid")
        media_id = request.match_info["media_id"]
        self.deleted.append(media_id)
        return (
            web.Response(status=204)
            if self.uploads.pop(media_id, None)
            else self.error(404, "not-found", "no such media")
        )

    async def create(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.authorised(request):
            return self.error(401, "unauthorized", "Authentication failed")
        if self.validate(request, body, host_url=self.HOST, path=self.path(request)):
            return self.error(400, "request-validation", "Your request could not be accepted")
        plan = self.next_plan()
        if plan.status and plan.status >= 300:
            headers = {"Retry-After": plan.retry_after} if plan.retry_after else None
            if plan.code == "field:to":
                error = {"type": "request-validation", "description": "invalid to",
                         "fieldErrors": [{"fieldName": "to", "description": "'+1' is not a valid number"}]}  # fmt: skip
                return web.json_response(error, status=plan.status)
            return self.error(plan.status, "scripted", "scripted refusal", headers)
        fields = json.loads(body)
        media = []
        for url in fields.get("media", []):
            media_id = urlsplit(url).path.rsplit("/", 1)[-1]
            if media_id not in self.uploads or not url.startswith(self.url):
                self.media_problems.append(f"media not uploaded here: {url}")
                continue
            content_type, data = self.uploads[media_id]
            media.append((content_type, len(data)))
        if sum(size for _, size in media) > 3_500_000:
            self.media_problems.append("combined media over 3.5 MB")
        message_id = f"{int(time.time() * 1000)}{secrets.token_hex(6)}"
        self.sent.append(Sent(id=message_id, to=fields["to"][0], text=fields.get("text", ""), media=media,
                              callback_url=self.callback_url, kind="MMS" if media else "SMS"))  # fmt: skip
        message = {
            "id": message_id, "owner": fields["from"], "applicationId": fields["applicationId"],
            "time": "2026-11-29T12:00:00.000Z", "segmentCount": 1, "direction": "out", "to": fields["to"],
            "from": fields["from"], "media": fields.get("media", []), "text": fields.get("text", ""),
            "tag": fields.get("tag", ""), "priority": "default",
        }  # fmt: skip
        if self.callback_url:
            self.later(self.report(message, plan))
        return self.answer(request, body, host_url=self.HOST, path=self.path(request), status=202, value=message)

    def callback(self, message: dict[str, Any], kind: str, code: str | None) -> tuple[dict[str, str], bytes]:
        event: dict[str, Any] = {
            "type": kind, "time": "2026-11-29T12:00:01.000Z", "to": message["to"][0],
            "description": "ok" if not code else "scripted failure",
            "message": {k: message[k] for k in ("id", "owner", "applicationId", "time", "segmentCount", "direction",
                                                 "to", "from", "text", "tag", "media", "priority")},
        }  # fmt: skip
        if code:
            event["errorCode"] = int(code)
        check_schema("bandwidth", "statusCallback", event)
        headers = {"Authorization": _basic(CALLBACK_USER, CALLBACK_PASSWORD), "Content-Type": "application/json"}
        return headers, json.dumps([event]).encode()

    async def report(self, message: dict[str, Any], plan: Plan) -> None:
        await asyncio.sleep(plan.callback_delay_s)
        final = {"delivered": "message-delivered", "failed": "message-failed"}.get(plan.final, plan.final)
        for kind, code in (("message-sending", None), (final, plan.final_code)):
            headers, body = self.callback(message, kind, code)
            await post_callback(self, self.callback_url, headers, body)


async def post_callback(provider: Provider, url: str, headers: dict[str, str], body: bytes) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, content=body, headers=headers)
    provider.callbacks_posted.append((url, response.status_code))
    provider.callback_log.append((url, headers, body))
    return response.status_code


def all_providers() -> Iterator[str]:
    yield from ("twilio", "telnyx", "bandwidth")

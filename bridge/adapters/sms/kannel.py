"""WAP Pushes through Kannel: its smsbox `sendsms` HTTP interface, or its push proxy gateway (wapbox PPG).

- `sendsms` (Kannel User's Guide, "Sending SMS messages": GET /cgi-bin/sendsms): each SMS of the push is one
  request with `udh` (our UDH: the 16-bit port IE, and our concatenation IE when there are several SMS, so that
  the reference is ours, not Kannel's constant 0), `text` (the SMS payload, binary), `coding=1` (8-bit),
  `to`, `from` when configured, and `dlr-mask` / `dlr-url` when receipts are asked for — Kannel then calls the
  bridge's `/sms/dlr` with the push id and the DLR type. 202 (0: Accepted / 3: Queued) is success.
- `ppg` (WAP-247-PAP, WAP-164-PAP push message, WAP-249-PPG): a PAP `push-message` for
  `WAPPUSH=<number>/TYPE=PLMN@<host>` in a `multipart/related` with the m-notification-ind itself, marked
  `X-Wap-Application-Id: x-wap-application:mms.ua`; the PPG builds the WSP push and the SMS. The answer's
  `response-result` code says what happened: 1xxx accepted; 2002 (address error) permanent 5.1.1, other 2xxx
  permanent 5.3.0; 3xxx and 4xxx (server and service failures) temporary. We send no User-Agent: Kannel copies
  the PI's User-Agent and Accept headers into the WSP push, where they would cost the phone's SMS octets.

`KannelReports` takes Kannel's delivery reports at `/sms/dlr` on the web server's public listener.

HTTP errors are mapped as `bridge.adapters.http` says (5xx, 401/403, 408, 429 and network trouble temporary;
any other 4xx permanent: Kannel refused the request itself).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote_from_bytes, unquote_to_bytes

import httpx
from aiohttp import web

from bridge.adapters.http import reachable, status_failure
from bridge.adapters.sms.mo import MOText
from bridge.adapters.web.server import Listener, WebServer
from bridge.codec.sms_text import gsm7_septets
from bridge.config import KannelSettings
from bridge.errors import BridgeError, TemporaryFailure, Verdict, failure
from bridge.model import MSISDN

log = logging.getLogger("bridge.sms")
_PAP_CODE = re.compile(rb'code\s*=\s*"(\d{4})"')
_PAP_DESC = re.compile(rb'desc\s*=\s*"([^"]*)"')


def pap_message(*, push_id: str, to: MSISDN, host: str) -> bytes:
    """The PAP control entity for one unconfirmed push over SMS (WAP-247-PAP 8.2)."""
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 1.0//EN" "http://www.wapforum.org/DTD/pap_1.0.dtd">\n'
        f'<pap><push-message push-id="{push_id}">'
        f'<address address-value="WAPPUSH={to.e164}/TYPE=PLMN@{host}"/>'
        '<quality-of-service delivery-method="unconfirmed" network="GSM" bearer="SMS"/>'
        "</push-message></pap>\n"
    ).encode()


#: what Kannel 1.4.5's wapbox adds to a pushed m-notification-ind beyond our own WSP push (measured: its headers
#: take 38 octets — Content-Type and X-Wap-Application-Id as text, Content-Length, Encoding-Version — ours 3)
PPG_PUSH_OVERHEAD = 35


class KannelPushSender:
    """The `PushSender` for `sms.kind = "kannel"`."""

    def __init__(
        self, settings: KannelSettings, *, dlr_url: str = "", transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        #: where Kannel reports SMS delivery (the public listener's /sms/dlr); "" asks for no reports
        self.dlr_url = dlr_url if settings.dlr else ""
        self.push_overhead = PPG_PUSH_OVERHEAD if settings.mode == "ppg" else 0
        self.http = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport)
        # Kannel's PPG copies the PI's User-Agent and Accept headers into the push, where each costs the phone's
        # SMS octets: send neither
        for name in ("User-Agent", "Accept", "Accept-Encoding"):
            self.http.headers.pop(name, None)

    async def start(self) -> None:
        pass

    async def ready(self) -> str | None:
        return await reachable(self.settings.ppg_url or self.settings.sendsms_url)

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, *, to: MSISDN, user_data: Sequence[bytes], pdu: bytes = b"") -> str | None:
        push_id = secrets.token_hex(8)
        if self.settings.mode == "ppg":
            await self._ppg(to, pdu, push_id)
        else:
            for n, ud in enumerate(user_data, 1):
                await self._sendsms(to, ud, f"{push_id}-{n}")
        return push_id

    async def send_text(self, *, to: MSISDN, text: str) -> str | None:
        s = self.settings
        if not s.sendsms_url:
            raise TemporaryFailure("Kannel: a text SMS goes through sendsms; set [sms.kannel] sendsms_url", "4.3.0")
        sms_id = secrets.token_hex(8)
        params = {"username": s.username, "password": s.password, "to": to.e164, "text": text, "charset": "UTF-8",
                  "coding": "0" if gsm7_septets(text) is not None else "2"}  # fmt: skip
        if s.sender:
            params["from"] = s.sender
        if s.smsc_id:
            params["smsc"] = s.smsc_id
        if self.dlr_url:
            params["dlr-mask"] = "31"
            params["dlr-url"] = f"{self.dlr_url}?id={sms_id}&type=%d"
        request = self.http.build_request("GET", s.sendsms_url, params=params)
        response = await self._request("Kannel sendsms", request)
        if response.status_code not in (200, 202):
            raise status_failure("Kannel sendsms", response)
        return sms_id

    async def _request(self, where: str, request: httpx.Request, auth: tuple[str, str] | None = None) -> httpx.Response:
        try:
            return await self.http.send(request, auth=auth)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"{where}: no answer in {self.settings.timeout_s:g}s", "4.4.1") from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"{where}: {exc!r}", "4.4.1") from exc

    async def _sendsms(self, to: MSISDN, ud: bytes, sms_id: str) -> None:
        s = self.settings
        udh_length = ud[0] + 1
        params = {
            "username": s.username,
            "password": s.password,
            "to": to.e164,
            "coding": "1",
        }
        if s.sender:
            params["from"] = s.sender
        if s.smsc_id:
            params["smsc"] = s.smsc_id
        if self.dlr_url:
            params["dlr-mask"] = "31"
            params["dlr-url"] = f"{self.dlr_url}?id={sms_id}&type=%d"
        # udh and text are binary: percent-encoded byte by byte, which httpx's params would not do for bytes
        query = "&".join(f"{k}={quote_from_bytes(v.encode(), safe='')}" for k, v in params.items())
        query += f"&udh={quote_from_bytes(ud[:udh_length], safe='')}&text={quote_from_bytes(ud[udh_length:], safe='')}"
        request = self.http.build_request("GET", f"{s.sendsms_url}?{query}")
        response = await self._request("Kannel sendsms", request)
        if response.status_code not in (200, 202):
            raise status_failure("Kannel sendsms", response)

    async def _ppg(self, to: MSISDN, pdu: bytes, push_id: str) -> None:
        s = self.settings
        boundary = f"mms-bridge-{secrets.token_hex(8)}"
        body = b"".join(
            (
                f"--{boundary}\r\nContent-Type: application/xml\r\n\r\n".encode(),
                pap_message(push_id=f"{push_id}@mms-bridge", to=to, host=s.ppg_address_host),
                f"\r\n--{boundary}\r\nContent-Type: application/vnd.wap.mms-message\r\n"
                "X-Wap-Application-Id: x-wap-application:mms.ua\r\n\r\n".encode(),
                pdu,
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        headers = {"Content-Type": f'multipart/related; boundary={boundary}; type="application/xml"'}
        auth = (s.username, s.password) if s.username else None
        request = self.http.build_request("POST", s.ppg_url, content=body, headers=headers)
        response = await self._request("Kannel PPG", request, auth)
        code_match = _PAP_CODE.search(response.content)
        if code_match is None:
            if response.status_code >= 300:
                raise status_failure("Kannel PPG", response)
            raise TemporaryFailure(f"Kannel PPG answered without a PAP result: {response.text[:200]!r}", "4.4.2")
        code = int(code_match.group(1))
        desc_match = _PAP_DESC.search(response.content)
        detail = f"Kannel PPG result {code} ({desc_match.group(1).decode('utf-8', 'replace') if desc_match else ''})"
        verdict, status = pap_verdict(code)
        if verdict is not Verdict.SUCCESS:
            raise failure(verdict, detail, status)


def pap_verdict(code: int) -> tuple[Verdict, str]:
    """The verdict and RFC 3463 status of a PAP response-result code (WAP-247-PAP 9.13): 1xxx accepted; 2002
    (address error) permanent 5.1.1, other 2xxx permanent 5.3.0; 3xxx and 4xxx temporary."""
    if 1000 <= code < 2000:
        return Verdict.SUCCESS, "2.0.0"
    if code == 2002:
        return Verdict.PERMANENT, "5.1.1"
    if 2000 <= code < 3000:
        return Verdict.PERMANENT, "5.3.0"
    return Verdict.TEMPORARY, "4.4.2"


#: Kannel's DLR types (User's Guide, dlr-mask)
DLR_TYPES = {1: "delivered", 2: "failed", 4: "queued-at-smsc", 8: "accepted-by-smsc", 16: "rejected-by-smsc"}
_SMS_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DLR_TYPE = re.compile(r"[0-9]{1,3}")


class KannelReports:
    """`GET /sms/dlr?id=&type=` on the public listener: Kannel's delivery reports for the notification SMS
    (the dlr-url the sender gives), logged. The MMS itself is confirmed only by the phone's fetch and answer."""

    def __init__(self) -> None:
        #: the last SMS delivery reports, (sms id, Kannel DLR type)
        self.sms_reports: list[tuple[str, int]] = []

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "GET", "/sms/dlr", self.sms_report)

    async def sms_report(self, request: web.Request) -> web.Response:
        sms_id, kind = request.query.get("id", ""), request.query.get("type", "")
        # the id is ours (put in the dlr-url); anything else is not Kannel calling, and never reaches the log
        if not _SMS_ID.fullmatch(sms_id) or not _DLR_TYPE.fullmatch(kind):
            raise web.HTTPBadRequest(text="expected id= (the SMS id) and type= (a Kannel DLR type)\n")
        log.info("sms receipt id=%s type=%s", sms_id, DLR_TYPES.get(int(kind), kind))
        self.sms_reports.append((sms_id, int(kind)))
        del self.sms_reports[:-100]
        return web.Response(text="ok\n")


#: Kannel's %C for a message's text -> the Python codec (8-bit data is tried as UTF-8 first, then Latin-1)
_CHARSETS = {"UTF-8": "utf-8", "UTF-16BE": "utf-16-be", "ISO-8859-1": "latin-1", "WINDOWS-1252": "cp1252"}
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


class KannelMO:
    """`GET /sms/mo?key=&from=&to=&coding=&charset=&text=` on the public listener: a phone's SMS, as Kannel's
    sms-service `get-url` passes it (`contrib/kannel/kannel.conf`; bearerbox joins concatenated messages first).
    The key must match `[sms.kannel] mo_key` (403 otherwise; the endpoint exists only when it is set). Answered
    200 with no body (Kannel sends no SMS back) once the text was taken, 503 when it could not be (logged)."""

    def __init__(self, *, key: str, on_message: Callable[[MOText], Awaitable[None]]) -> None:
        self.key = key.encode()
        self.on_message = on_message

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.PUBLIC, "GET", "/sms/mo", self.mo)

    async def mo(self, request: web.Request) -> web.Response:
        # the raw query: %b is the message's own octets, which aiohttp's query (read as UTF-8) would spoil
        fields: dict[str, bytes] = {}
        for pair in request.rel_url.raw_query_string.split("&"):
            name, _, value = pair.partition("=")
            fields.setdefault(name, unquote_to_bytes(value.replace("+", " ")))
        if not hmac.compare_digest(fields.get("key", b""), self.key):
            raise web.HTTPForbidden(text="a key is needed\n")
        sender = fields.get("from", b"").decode("latin-1")
        if not _NUMBER.fullmatch(sender):
            raise web.HTTPBadRequest(text="from= must be the phone's number\n")
        raw = fields.get("text", b"")
        charset = _CHARSETS.get(fields.get("charset", b"").decode("latin-1").upper())
        coding = fields.get("coding", b"0").decode("latin-1")
        try:
            if charset is None:
                charset = "utf-16-be" if coding == "2" else "utf-8"
            text = raw.decode(charset)
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # 8-bit data that is not UTF-8
        try:
            await self.on_message(MOText(sender=sender, text=text))
        except BridgeError as exc:
            log.warning("kannel mo=not-taken error=%r", exc)
            raise web.HTTPServiceUnavailable(text="not taken now, try again\n") from exc
        return web.Response(status=200)

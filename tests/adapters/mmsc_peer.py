"""An operator's MMSC on loopback for the route tests (aiohttp, 127.0.0.1 port 0): it keeps every request and
answers each with the next scripted answer — a response, a pause longer than the client's timeout, or a dropped
connection. It also serves as an HTTP proxy (it records the absolute request target) for the MM1 route."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from aiohttp import web

from bridge.codec import mm7

RELEASE = "REL-6-MM7-1-4"
NS = mm7.namespace(RELEASE)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/xml"
    headers: tuple[tuple[str, str], ...] = ()


DROP = "drop"
STALL = "stall"


def submit_rsp(code: int = 1000, message_id: str = "mmsc-1", text: str = "Success") -> Answer:
    body = mm7.encode_response(
        "SubmitRsp", release=RELEASE, transaction_id="t", code=code, text=text, MessageID=message_id
    )
    return Answer(body=body)


def fault(code: int, text: str = "error", http: int = 500) -> Answer:
    return Answer(status=http, body=mm7.encode_fault(release=RELEASE, transaction_id="t", code=code, text=text))


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Peer:
    script: list[Answer | str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    default: Answer = field(default_factory=submit_rsp)
    port: int = 0
    tls: ssl.SSLContext | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/mm7"

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Request(request.method, str(request.url), dict(request.headers), body))
        answer = self.script.pop(0) if self.script else self.default
        if answer == DROP:
            assert request.transport is not None
            request.transport.abort()
            await asyncio.sleep(1)
            return web.Response()
        if answer == STALL:  # longer than the route's timeout_s in the tests (1 s)
            await asyncio.sleep(2.5)
            return web.Response()
        assert isinstance(answer, Answer)
        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type, headers=dict(answer.headers)
        )

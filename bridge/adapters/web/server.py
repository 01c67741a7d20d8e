"""The one web server (aiohttp, in the bridge's event loop): it owns the HTTP listeners and their applications;
every HTTP surface installs its routes on one of them and owns nothing else of HTTP.

- `public`: where phones and operators' MMSCs reach the bridge (`[mmsc]` host and port): the builtin MMSC's
  `/m`, the MM7 endpoint `/mm7/<route>`, Kannel's `/sms/dlr`; later REST providers' callbacks, media URLs and the
  message page.
- `admin`: for operators (`[admin]`, off by default): later the console, the API, `/metrics`, `/healthz`.

A listener starts only when something was installed on it. Both share the protections against slow and hostile
clients: a connection outside a request (headers still coming, or idle) for `header_timeout_s` is closed; a body
declared over the application's limit is answered 413 before a byte of it is read and the connection closed
(no lingering); a POST body must arrive within `body_timeout_s` (408).
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

#: what a phone, Kannel or an MMSC posts here is small; a surface may raise its own application's limit
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class Listener(StrEnum):
    PUBLIC = "public"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSettings:
    host: str
    port: int
    enabled: bool = True


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebServer:
    def __init__(
        self,
        listeners: dict[Listener, ListenerSettings],
        *,
        header_timeout_s: float = 30.0,
        body_timeout_s: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.settings = listeners
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.apps = {
            name: web.Application(client_max_size=max_body_bytes, middlewares=[self._bounded]) for name in listeners
        }
        self._installed: set[Listener] = set()
        self._sockets: dict[Listener, socket.socket] = {}
        self._runners: list[web.AppRunner] = []
        self._sweeper: asyncio.Task[None] | None = None

    def add_route(self, listener: Listener, method: str, path: str, handler: Handler) -> None:
        """Install one route (a GET answers HEAD too); the listener it is on will start."""
        router = self.apps[listener].router
        if method == "GET":
            router.add_get(path, handler)
        else:
            router.add_route(method, path, handler)
        self._installed.add(listener)

    def allow_body(self, listener: Listener, max_bytes: int) -> None:
        """Raise the largest request body the listener takes (a surface that receives whole messages)."""
        app = self.apps[listener]
        app._client_max_size = max(app._client_max_size, max_bytes)  # aiohttp reads its limit from there

    def port(self, listener: Listener) -> int:
        """The listener's port, binding its socket now if need be (so that port 0 is known before start)."""
        sock = self._sockets.get(listener)
        if sock is None:
            settings = self.settings[listener]
            family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((settings.host, settings.port))
            except OSError:
                sock.close()
                raise
            self._sockets[listener] = sock
        return int(sock.getsockname()[1])

    def running(self, listener: Listener) -> bool:
        return listener in self._installed and self.settings[listener].enabled

    async def start(self) -> None:
        """Serve every enabled listener that has routes; close the sockets of the others."""
        for listener in self.settings:
            if not self.running(listener):
                sock = self._sockets.pop(listener, None)
                if sock is not None:
                    sock.close()
                continue
            self.port(listener)
            sock = self._sockets[listener]
            sock.listen(128)
            sock.setblocking(False)
            # no lingering: the rest of a refused body (413) is not read; an idle keep-alive connection is
            # closed after the header timeout
            runner = web.AppRunner(
                self.apps[listener], access_log=None, lingering_time=0.0, keepalive_timeout=self.header_timeout_s
            )
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)
        if self._runners:
            self._sweeper = asyncio.create_task(self._close_slow_connections())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for runner in self._runners:
            await runner.cleanup()
        for sock in self._sockets.values():
            sock.close()

    async def _close_slow_connections(self) -> None:
        """aiohttp has no timeout for a request's headers: a connection that is not inside a request (headers
        still coming, or idle) for `header_timeout_s` is closed. Checked twice a second."""
        idle_since: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            now = loop.time()
            for runner in self._runners:
                server = runner.server
                for handler in list(server.connections) if server is not None else []:
                    if getattr(handler, "_request_in_progress", False):
                        idle_since[handler] = now
                    elif now - idle_since.setdefault(handler, now) > self.header_timeout_s:
                        handler.force_close()

    @web.middleware
    async def _bounded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = request.app._client_max_size  # aiohttp keeps the limit it enforces only there
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit, actual_size=request.content_length, headers={"Connection": "close"}
            )
        if request.method != "POST":
            return await handler(request)
        try:
            async with asyncio.timeout(self.body_timeout_s):
                await request.read()  # read now, under the timeout; the handler's read() gets it from memory
        except TimeoutError:
            raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
        return await handler(request)

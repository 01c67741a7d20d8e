"""The one web server: surfaces install routes on the public or the admin listener; a listener starts only when
something is installed on it (and, for the admin one, when enabled)."""

from __future__ import annotations

import asyncio
import socket

import httpx
from aiohttp import web

from bridge.adapters.web.server import Listener, ListenerSettings, WebServer


def listeners(*, admin: bool) -> dict[Listener, ListenerSettings]:
    return {
        Listener.PUBLIC: ListenerSettings(host="127.0.0.1", port=0),
        Listener.ADMIN: ListenerSettings(host="127.0.0.1", port=0, enabled=admin),
    }


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=f"hello from {request.path}")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_each_surface_on_its_listener_and_an_empty_listener_does_not_start() -> None:
    async def go() -> None:
        server = WebServer(listeners(admin=True))
        server.add_route(Listener.ADMIN, "GET", "/healthz", hello)
        public_port = server.port(Listener.PUBLIC)  # bound early (a surface needs its URL), never served
        await server.start()
        try:
            assert server.running(Listener.ADMIN) and not server.running(Listener.PUBLIC)
            async with httpx.AsyncClient() as http:
                r = await http.get(f"http://127.0.0.1:{server.port(Listener.ADMIN)}/healthz")
                assert r.text == "hello from /healthz"
                head = await http.head(f"http://127.0.0.1:{server.port(Listener.ADMIN)}/healthz")
                assert head.status_code == 200  # a GET route answers HEAD
            assert await asyncio.to_thread(refused, public_port)
        finally:
            await server.stop()

    asyncio.run(go())


def test_a_disabled_admin_listener_stays_closed_with_routes_on_it() -> None:
    async def go() -> None:
        server = WebServer(listeners(admin=False))
        server.add_route(Listener.ADMIN, "GET", "/healthz", hello)
        server.add_route(Listener.PUBLIC, "GET", "/m/{token}", hello)
        await server.start()
        try:
            assert server.running(Listener.PUBLIC) and not server.running(Listener.ADMIN)
            async with httpx.AsyncClient() as http:
                r = await http.get(f"http://127.0.0.1:{server.port(Listener.PUBLIC)}/healthz")
                assert r.status_code == 404  # not installed on the public listener
        finally:
            await server.stop()

    asyncio.run(go())

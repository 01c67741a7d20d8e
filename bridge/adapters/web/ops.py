"""Operations on the admin listener: `/metrics` (Prometheus' text format, from prometheus-client), `/healthz`
(the process serves) and `/readyz` (the store answers and every route could take a message), with JSON bodies,
for Prometheus, systemd, load balancers and Kubernetes probes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.adapters.store.base import JobStore
from bridge.adapters.web.server import Listener, WebServer
from bridge.errors import StoreError
from bridge.metrics import Metrics
from bridge.model import JobState

#: a probe answers within this, whatever hangs behind it
PROBE_TIMEOUT_S = 3.0


class Operations:
    def __init__(
        self,
        *,
        metrics: Metrics,
        store: JobStore,
        routes: Callable[[], Awaitable[dict[str, str | None]]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.routes = routes
        self.clock = clock

    def install(self, server: WebServer) -> None:
        server.add_route(Listener.ADMIN, "GET", "/metrics", self.get_metrics)
        server.add_route(Listener.ADMIN, "GET", "/healthz", self.get_healthz)
        server.add_route(Listener.ADMIN, "GET", "/readyz", self.get_readyz)

    async def get_metrics(self, request: web.Request) -> web.Response:
        # the store's gauges are read at the scrape; a store away leaves them as they were last read
        try:
            status = await asyncio.wait_for(self.store.status(), PROBE_TIMEOUT_S)
        except (StoreError, TimeoutError):
            status = None
        if status is not None:
            counts: dict[str, int] = status.get("jobs", {})
            for state in JobState:
                self.metrics.jobs.labels(state=state.value).set(counts.get(state.value, 0))
            oldest = status.get("oldest_due_at")
            self.metrics.oldest_due_job_age_seconds.set(max(0.0, self.clock() - oldest) if oldest else 0.0)
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def get_healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"}, 200)

    async def get_readyz(self, request: web.Request) -> web.Response:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(self.store.status(), PROBE_TIMEOUT_S)
            checks["store"] = {"ready": True}
        except (StoreError, TimeoutError) as exc:
            checks["store"] = {"ready": False, "reason": str(exc) or "no answer in time"}
        try:
            routes = await asyncio.wait_for(self.routes(), PROBE_TIMEOUT_S)
        except TimeoutError:
            routes = {"routes": "no answer in time"}
        for name, why in routes.items():
            checks[f"route {name}"] = {"ready": True} if why is None else {"ready": False, "reason": why}
        ready = all(c["ready"] for c in checks.values())
        return _json({"ready": ready, "checks": checks}, 200 if ready else 503)


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        text=json.dumps(body, sort_keys=True), status=status, content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip

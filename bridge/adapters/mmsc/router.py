"""The route of routes: each job goes to the route `[[route]]` picks for its number (`bridge.routing`), falls
over to that route's `fallback` when the first answer is a temporary failure, and, once a route has taken it
and waits for the phone or the MMSC's report, stays with that route. Each route is paced to its
`max_per_second`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from bridge.adapters.mmsc.base import Delivery, Route
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.model import Job, StoredMessage
from bridge.routing import RouteRule, choose

log = logging.getLogger("bridge.route")


class _Pace:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
            if at > now:
                await asyncio.sleep(at - now)


class Router:
    name = "router"

    def __init__(self, routes: Mapping[str, Route], rules: Sequence[RouteRule], rates: Mapping[str, float]) -> None:
        self.routes = dict(routes)
        self.rules = list(rules)
        self._pace = {name: _Pace(rates.get(name, 0.0)) for name in self.routes}

    async def close(self) -> None:
        for route in self.routes.values():
            await route.close()

    async def _via(self, name: str, job: Job, message: StoredMessage) -> Delivery:
        await self._pace[name].wait()
        delivery = await self.routes[name].deliver(job, message)
        return Delivery(
            mmsc_id=delivery.mmsc_id,
            pending=delivery.pending,
            status=delivery.status,
            detail=delivery.detail,
            route=name,
        )

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        if job.route is not None and job.mmsc_id is not None and job.route in self.routes:
            return await self._via(job.route, job, message)
        rule = choose(self.rules, job.recipient.e164)
        if rule is None:
            raise PermanentFailure(f"no route takes {job.recipient.masked}", "5.4.4")
        try:
            return await self._via(rule.name, job, message)
        except TemporaryFailure as first:
            if not rule.fallback:
                raise
            log.info("job=%s route=%s failed=%r fallback=%s", job.id, rule.name, first.detail, rule.fallback)
            try:
                return await self._via(rule.fallback, job, message)
            except TemporaryFailure as second:
                raise TemporaryFailure(
                    f"{rule.name}: {first.detail}; fallback {rule.fallback}: {second.detail}", second.status
                ) from second

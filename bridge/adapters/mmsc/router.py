"""The route of routes: each job goes to the route `[[route]]` picks for its number (`bridge.routing`), falls
over to that route's `fallback` when the first answer is a temporary failure, and, once a route has taken it
and waits for the phone or the MMSC's report, stays with that route. Each route is paced to its
`max_per_second`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.adapters.mmsc.base import Delivery, Route
from bridge.adapters.store.base import LimitStore
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.model import Job, StoredMessage
from bridge.routing import RouteRule, choose

log = logging.getLogger("bridge.route")


@dataclass
class RouteHealth:
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure: str = ""


class Router:
    name = "router"

    def __init__(
        self, routes: Mapping[str, Route], rules: Sequence[RouteRule], rates: Mapping[str, float], limits: LimitStore
    ) -> None:
        self.routes = dict(routes)
        self.rules = list(rules)
        self._interval = {name: 1.0 / rates[name] for name in self.routes if rates.get(name, 0.0) > 0}
        #: each route's last success and last failure in this process, for the console
        self.health: dict[str, RouteHealth] = {}
        self.limits = limits

    async def _pace(self, name: str) -> None:
        """A route's `max_per_second` holds for all the bridges sharing the store: the slots come from it."""
        interval = self._interval.get(name)
        if interval:
            wait = await self.limits.pace(f"route:{name}", interval_s=interval)
            if wait > 0:
                await asyncio.sleep(wait)

    async def close(self) -> None:
        for route in self.routes.values():
            await route.close()

    async def readiness(self) -> dict[str, str | None]:
        """Each route's `ready()`, by name, asked at once."""
        names = list(self.routes)
        found = await asyncio.gather(*(self.routes[n].ready() for n in names))
        return dict(zip(names, found, strict=True))

    async def ready(self) -> str | None:
        bad = [f"{name}: {why}" for name, why in (await self.readiness()).items() if why]
        return "; ".join(bad) or None

    async def _via(self, name: str, job: Job, message: StoredMessage) -> Delivery:
        await self._pace(name)
        health = self.health.setdefault(name, RouteHealth())
        try:
            delivery = await self.routes[name].deliver(job, message)
        except (TemporaryFailure, PermanentFailure) as exc:
            health.last_failure_at, health.last_failure = time.time(), f"{exc.status} {exc.detail}"
            raise
        health.last_success_at = time.time()
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

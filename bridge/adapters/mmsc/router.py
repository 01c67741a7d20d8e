"""The route of routes: each job goes to the route `[[route]]` picks for its number (`bridge.routing`), falls
over to that route's `fallback` when the first answer is a temporary failure, and, once a route has taken it
and waits for the phone or the MMSC's report, stays with that route. Each route is paced to its
`max_per_second`.

A route with `fallback_sms` (`LinkPolicy`) sends one plain SMS with a link to the message's page instead of the
MMS: always; for numbers listed as taking no MMS; when the route refuses the content (its type, 5.6.x, or its
size, 5.3.4); or, through `on_expiry`, when the phone has not fetched the MMS by the time it expires. The job
then ends "delivered", relayed (its DSN says so)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.adapters.mmsc.base import Delivery, Route, TextSender
from bridge.adapters.store.base import LimitStore
from bridge.convert.link import link_text
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.model import Job, StoredMessage
from bridge.routing import RouteRule, choose

log = logging.getLogger("bridge.route")


#: the refusals of the content itself, which an SMS with a link gets around
CONTENT_REFUSALS = ("5.6.", "5.3.4")


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkPolicy:
    """`[[route]] fallback_sms` of one route: when, how the SMS goes, and where the page is."""

    mode: str
    sender: TextSender
    public_url: str
    sms_only_prefixes: tuple[str, ...] = ()

    def sms_only(self, number: str) -> bool:
        return self.mode == "always" or any(number.startswith(p) for p in self.sms_only_prefixes)


@dataclass
class RouteHealth:
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure: str = ""


class Router:
    name = "router"

    def __init__(
        self,
        routes: Mapping[str, Route],
        rules: Sequence[RouteRule],
        rates: Mapping[str, float],
        limits: LimitStore,
        links: Mapping[str, LinkPolicy] | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.links = dict(links or {})
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

    async def _link(self, name: str, job: Job, message: StoredMessage, *, why: str, failed: bool) -> Delivery:
        """The SMS with a link, through route `name`'s own way of sending an SMS."""
        policy = self.links[name]
        text = link_text(subject=message.subject, sender=message.mail_from, url=f"{policy.public_url}/v/{job.token}")
        sms_id = await policy.sender.send_text(job, text)
        log.info("job=%s route=%s link=sent why=%s", job.id, name, why)
        return Delivery(
            mmsc_id=job.mmsc_id or sms_id,
            detail=f"relayed as an SMS with a link to the message's page ({why})",
            route=name,
            relayed=True,
            instead_of_failure=failed,
        )

    async def on_expiry(self, job: Job, message: StoredMessage) -> Delivery | None:
        """A job about to expire unfetched: the SMS with a link when its route has `fallback_sms`, else None."""
        name = job.route
        if name is None or name not in self.links or job.mmsc_id is None:
            return None  # never taken by the route: there is nothing the phone failed to fetch
        return await self._link(name, job, message, why="the phone did not fetch the MMS in time", failed=True)

    async def _via_or_link(self, name: str, job: Job, message: StoredMessage) -> Delivery:
        """Route `name`; a refusal of the content itself (at once, or reported later by the provider) becomes the
        SMS with a link when the route has `fallback_sms`."""
        try:
            return await self._via(name, job, message)
        except PermanentFailure as refused:
            if name not in self.links or not refused.status.startswith(CONTENT_REFUSALS):
                raise
            return await self._link(name, job, message, why=f"the MMS was refused: {refused.detail}", failed=True)

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        if job.route is not None and job.mmsc_id is not None and job.route in self.routes:
            return await self._via_or_link(job.route, job, message)
        rule = choose(self.rules, job.recipient.e164)
        if rule is None:
            raise PermanentFailure(f"no route takes {job.recipient.masked}", "5.4.4")
        link = self.links.get(rule.name)
        if link is not None and link.sms_only(job.recipient.e164):
            why = "the route sends no MMS" if link.mode == "always" else "the number takes no MMS"
            return await self._link(rule.name, job, message, why=why, failed=False)
        try:
            return await self._via_or_link(rule.name, job, message)
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

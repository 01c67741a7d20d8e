"""Status callbacks of the HTTP API: the store queues one with each state change of a job whose message gave a
`status_callback` (in the change's own transaction, so none is lost or invented); this sender posts them.

Each is a JSON object (`event`: notified, fetched, delivered, failed or expired; `message_id`, `job_id`, `to`,
`status`, `at`), signed as the major providers sign theirs: `X-Bridge-Timestamp` (Unix seconds) and
`X-Bridge-Signature: v1=<hex HMAC-SHA256 over "<timestamp>.<body>" with the API key's webhook secret>`; a receiver
recomputes it and refuses stale timestamps. A receiver that does not answer 2xx gets it again after 5 s, 10 s,
20 s … at most an hour apart, for a day; then it is dropped with a log line. Redirects are not followed. Only
http(s) URLs are ever taken (the API refuses others).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

import httpx

from bridge.adapters.store.base import JobStore
from bridge.errors import StoreError
from bridge.model import Webhook

log = logging.getLogger("bridge.webhooks")

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 3600.0
MAX_AGE_S = 86_400.0
#: a callback taken by a sender is not taken by another (another bridge) for this long
LEASE_S = 60.0


def signature(secret: str, timestamp: str, body: str) -> str:
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        store: JobStore,
        *,
        poll_s: float = 0.5,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.clock = clock
        self.http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport,
                                      headers={"User-Agent": "mms-bridge status callback"})  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    due = await self.store.due_webhooks(now=self.clock(), limit=20, lease_s=LEASE_S)
                except StoreError as exc:
                    log.error("webhooks error=%r", exc)
                    due = []
                if due:
                    await asyncio.gather(*(self._post(hook) for hook in due))
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        finally:
            await self.http.aclose()

    async def _post(self, hook: Webhook) -> None:
        now = self.clock()
        timestamp = str(int(now))
        headers = {
            "Content-Type": "application/json",
            "X-Bridge-Timestamp": timestamp,
            "X-Bridge-Signature": signature(hook.secret, timestamp, hook.body),
        }
        try:
            response = await self.http.post(hook.url, content=hook.body.encode(), headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        try:
            if error is None:
                await self.store.webhook_done(hook.id, now=now)
                log.info("webhook=%d posted attempts=%d", hook.id, hook.attempts + 1)
            elif now - hook.created_at > MAX_AGE_S:
                await self.store.webhook_done(hook.id, now=now, error=error)
                log.warning("webhook=%d dropped=yes after=%ds error=%r", hook.id, now - hook.created_at, error)
            else:
                wait = min(MAX_RETRY_S, FIRST_RETRY_S * 2**hook.attempts)
                await self.store.webhook_done(hook.id, now=now, error=error, retry_at=now + wait)
                log.info("webhook=%d failed=%r retry_in=%ds", hook.id, error, wait)
        except StoreError as exc:
            log.error("webhook=%d error=%r", hook.id, exc)  # its lease runs out and it is posted again

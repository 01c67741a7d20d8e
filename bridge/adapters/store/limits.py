"""Limits counted in one process: a sender's mails in a sliding window and a route's pace. The SQLite store uses
these (one process owns it); the PostgreSQL store counts the same limits in the database, so that every instance
sharing it counts together."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque


class LocalLimits:
    def __init__(self) -> None:
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def count_send(self, key: str, *, limit: int, window_s: float, now: float) -> bool:
        sent = self._sent[key]
        while sent and sent[0] <= now - window_s:
            sent.popleft()
        if len(sent) >= limit:
            return False
        sent.append(now)
        return True

    async def pace(self, key: str, *, interval_s: float) -> float:
        async with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(key, 0.0))
            self._next[key] = at + interval_s
            return at - now

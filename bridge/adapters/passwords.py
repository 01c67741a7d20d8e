"""Passwords checked against a users file of bcrypt hashes, shared by SMTP AUTH and the admin console's login.

- bcrypt runs in its own small thread pool, never on the event loop: a burst of attempts cannot stall the
  other sessions.
- An unknown user costs the same bcrypt work as a known one (a hash of the same cost is checked), so the answer
  time does not tell which users exist.
- After `free_failures` failed attempts within `window_s`, per client address and per user name, each further
  attempt waits before it is answered: `delay_base_s` doubled per failure, at most `delay_max_s` (an
  `asyncio.sleep` of that attempt alone).
- bcrypt reads at most 72 octets of a password; longer ones are cut there, as the tools that make such hashes
  (htpasswd, Python's bcrypt before 5.0) did when hashing them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt

from bridge.errors import ConfigError

_COST = re.compile(rb"^\$2[abxy]?\$(\d{2})\$")
BCRYPT_MAX_BYTES = 72


class PasswordChecker:
    def __init__(
        self,
        users: dict[str, bytes],
        *,
        free_failures: int = 3,
        window_s: float = 900.0,
        delay_base_s: float = 1.0,
        delay_max_s: float = 30.0,
        threads: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.free_failures = free_failures
        self.window_s = window_s
        self.delay_base_s = delay_base_s
        self.delay_max_s = delay_max_s
        self.clock = clock
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bcrypt")
        costs = [int(m.group(1)) for h in users.values() if (m := _COST.match(h))]
        # what an unknown user's attempt is checked against: a hash as costly as the real ones
        self._decoy = bcrypt.hashpw(b"decoy", bcrypt.gensalt(rounds=max(costs, default=12)))
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        horizon = self.clock() - self.window_s
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0
        return len(failures)

    def delay_for(self, ip: str, user: str) -> float:
        """How long the next attempt from `ip` for `user` waits before it is answered."""
        failures = max(self._recent(f"ip:{ip}"), self._recent(f"user:{user}"))
        if failures < self.free_failures:
            return 0.0
        return min(self.delay_max_s, self.delay_base_s * 2.0 ** (failures - self.free_failures))

    async def check(self, user: bytes, password: bytes, ip: str) -> bool:
        name = user.decode("utf-8", "replace")
        delay = self.delay_for(ip, name)
        if delay:
            await asyncio.sleep(delay)
        hashed = self.users.get(name)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            self._executor, _checkpw, password[:BCRYPT_MAX_BYTES], hashed if hashed is not None else self._decoy
        )
        ok = ok and hashed is not None
        if not ok:
            now = self.clock()
            self._failures[f"ip:{ip}"].append(now)
            self._failures[f"user:{name}"].append(now)
            if len(self._failures) > 100_000:  # a spray of random names: forget the oldest rather than grow
                self._failures.pop(next(iter(self._failures)))
        return ok

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bool(bcrypt.checkpw(password, hashed))
    except ValueError:  # a malformed hash in the users file: nobody logs in with it
        return False


def load_users(path: Path, *, key: str = "smtp.users_file") -> dict[str, bytes]:
    """`user:<bcrypt hash>` lines; blank lines and `#` comments skipped; errors name the configuration `key`."""
    users: dict[str, bytes] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot be read ({exc.strerror})") from exc
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$2"):
            raise ConfigError(f"{key}: {path}:{n}: expected user:<bcrypt hash>")
        users[user] = hashed.encode()
    return users

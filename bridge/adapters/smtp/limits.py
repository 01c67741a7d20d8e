"""What all the SMTP connections of one server share and may not exceed: connections in all and per client
address, DATA octets held in memory, and open files (the soft limit raised to fit the connection cap, accept
errors at the limit logged once per interval instead of once per attempt)."""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

log = logging.getLogger("bridge.smtp")


class ConnectionLimits:
    """What all the SMTP connections of one server share: how many there are (in all and per client address),
    and how many DATA octets they hold in memory. Over a connection cap a client gets `421 4.7.0` and is closed;
    over the memory bound a mail goes on to the spool folder instead of memory."""

    def __init__(self, *, max_connections: int, max_per_ip: int, max_memory_bytes: int) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.max_memory_bytes = max_memory_bytes
        self.open = 0
        self.per_ip: dict[str, int] = {}
        self.memory_bytes = 0

    def admit(self, ip: str) -> str | None:
        """None when a connection from `ip` may open (and it is counted), else the reply that refuses it."""
        if self.open >= self.max_connections:
            return "421 4.7.0 Too many connections, try again later"
        if self.per_ip.get(ip, 0) >= self.max_per_ip:
            return "421 4.7.0 Too many connections from your address, try again later"
        self.open += 1
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        return None

    def leave(self, ip: str) -> None:
        self.open -= 1
        left = self.per_ip.get(ip, 1) - 1
        if left:
            self.per_ip[ip] = left
        else:
            self.per_ip.pop(ip, None)


#: descriptors kept free beyond the SMTP connections: the web side, the store, spool files, outgoing HTTP
SPARE_FILES = 256


def fit_open_files(max_connections: int) -> int:
    """Raise the soft open-file limit so that `max_connections` and SPARE_FILES fit; when the hard limit is
    too low for that, the connection cap that fits (at least 1), with a warning. At the cap the bridge refuses
    connections with 421 instead of running out of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + SPARE_FILES
    if hard != resource.RLIM_INFINITY and wanted > hard:
        wanted = hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft == resource.RLIM_INFINITY:
        return max_connections
    fits = max(1, min(max_connections, soft - SPARE_FILES // 4 - 16))
    if fits < max_connections:
        log.warning(
            "smtp.max_connections: %d do not fit the open-file limit %d; at most %d", max_connections, soft, fits
        )
    return fits


_last_accept_error = 0.0


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio reports each failed accept() (out of descriptors) with a traceback, as fast as clients connect:
    those are logged once per 10 s in one line; everything else goes to the default handler."""
    global _last_accept_error
    exc = context.get("exception")
    if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
        now = loop.time()
        if now - _last_accept_error >= 10.0:
            _last_accept_error = now
            log.error("smtp=accept-failed error=%r (the open-file limit; logged once per 10 s)", exc)
        return
    loop.default_exception_handler(context)

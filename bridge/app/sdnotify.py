"""The service manager's readiness protocol (systemd's sd_notify, `Type=notify`), written out: one datagram to the
Unix socket `NOTIFY_SOCKET` names (an `@` first means the abstract namespace). Without that variable — not started
by systemd — nothing is sent."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send `state` ("READY=1", "STOPPING=1", "STATUS=…", lines joined by newlines); False when there is no one to
    tell or the socket refuses (the bridge runs on either way)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True

"""A real Kannel on loopback for the tests: Debian's bearerbox, smsbox and wapbox (with the PPG) and Kannel's fake
SMSC (`/usr/lib/kannel/test/fakesmsc`), which logs every SMS bearerbox hands it; `captured()` reads them back as
TP-User-Data. Kannel 1.4.5 cannot bind its PPG, wapbox and fake-SMSC listeners to one address, so those accept
only 127.0.0.1 (`*-allow-ip`); everything else binds 127.0.0.1. A missing Kannel fails the test: the README's
test command installs the Debian packages `kannel` and `kannel-extras`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes

from tests.adapters.smsc import free_port

BINARIES = {
    "bearerbox": "/usr/sbin/bearerbox",
    "smsbox": "/usr/sbin/smsbox",
    "wapbox": "/usr/sbin/wapbox",
    "fakesmsc": "/usr/lib/kannel/test/fakesmsc",
}
USER, PASSWORD = "bridge", "sendpw"

#: the configuration contrib/kannel ships, which is what the tests run
SHIPPED = Path(__file__).resolve().parents[2] / "contrib" / "kannel" / "kannel.conf"


def configured(ports: dict[str, int], folder: Path, *, mo_url: str = "") -> str:
    """contrib/kannel/kannel.conf with this test's ports, log folder and passwords (and the bridge's /sms/mo URL
    as the sms-service's get-url), its groups otherwise as shipped."""
    group, out = "", []
    values = {
        ("core", "admin-port"): ports["admin"], ("core", "admin-password"): "adminpw",
        ("core", "smsbox-port"): ports["smsbox"], ("core", "wapbox-port"): ports["wapbox"],
        ("smsc", "port"): ports["fake"], ("smsbox", "bearerbox-port"): ports["smsbox"],
        ("smsbox", "sendsms-port"): ports["sendsms"], ("sendsms-user", "username"): USER,
        ("sendsms-user", "password"): PASSWORD, ("ppg", "ppg-port"): ports["ppg"],
        ("sms-service", "get-url"): f'"{mo_url}"',
    }  # fmt: skip
    for line in SHIPPED.read_text().splitlines():
        key, sep, _ = (part.strip() for part in line.partition("="))
        if line.startswith("group ="):
            group = line.split("=", 1)[1].strip()
        elif sep and (group, key) in values:
            line = f"{key} = {values[group, key]}"
        elif sep and key == "log-file":
            line = f'log-file = "{folder}/{group.replace("core", "bearerbox")}.log"'
        out.append(line)
    return "\n".join(out) + "\n"


_GOT = re.compile(r"Got message (\d+): <(.*)>\s*$")


@dataclass(frozen=True, slots=True)
class Captured:
    to: str
    udh: bytes
    data: bytes

    @property
    def user_data(self) -> bytes:
        return self.udh + self.data


def _wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not open 127.0.0.1:{port} in {timeout:g}s")


@dataclass
class Kannel:
    folder: Path
    #: the bridge's /sms/mo URL with its key (as the shipped configuration's get-url writes it), "" for none
    mo_url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def ppg_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ppg']}/wappush"

    def _start(self, name: str, *args: str) -> None:
        log = (self.folder / f"{name}.out").open("ab")
        self.procs[name] = subprocess.Popen(
            [BINARIES[name], *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder
        )

    def start(self) -> None:
        missing = [path for path in BINARIES.values() if not os.path.exists(path)]
        assert not missing, (
            f"Kannel is not installed ({missing}): the README's test command installs kannel, kannel-extras"
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ports = {k: free_port() for k in ("admin", "smsbox", "wapbox", "fake", "sendsms", "ppg")}
        conf = self.folder / "kannel.conf"
        conf.write_text(configured(self.ports, self.folder, mo_url=self.mo_url or "http://127.0.0.1:9/sms/mo"))
        self._start("bearerbox", "-v", "1", str(conf))
        _wait_port(self.ports["admin"], "bearerbox admin")
        _wait_port(self.ports["fake"], "bearerbox fake-SMSC listener")
        # receive-only: -m 0 sends no MO message; -v 0 logs every MT as "Got message N: <from to udh .. data ..>"
        self._start(
            "fakesmsc", "-H", "127.0.0.1", "-r", str(self.ports["fake"]), "-m", "0", "-v", "0", "0 0 text unused"
        )
        self._start("smsbox", "-v", "1", str(conf))
        self._start("wapbox", "-v", "1", str(conf))
        _wait_port(self.ports["sendsms"], "smsbox sendsms")
        _wait_port(self.ports["ppg"], "wapbox PPG")
        status_url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password=adminpw"
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(status_url, timeout=5) as r:
                status = r.read().decode("utf-8", "replace")
            if re.search(r"fake.*online", status):
                return
            time.sleep(0.2)
        raise AssertionError(f"Kannel's fake SMSC never came online:\n{status}")

    def inject(self, message: str) -> None:
        """A phone's SMS arriving at the fake SMSC: "<sender> <receiver> <type> ..." as fakesmsc takes it (types
        text, ucs2, udh <udh> <data>; data URL-encoded). Bearerbox serves one fake-SMSC client at a time, and
        fakesmsc picks its messages at random among those it is given: the receiving client is replaced by one
        that sends this message and then goes on receiving (into the same log)."""
        old = self.procs.get("fakesmsc")
        if old is not None and old.poll() is None:
            old.send_signal(signal.SIGINT)
            old.wait(timeout=8)
        log = self.folder / "fakesmsc.out"
        sent = log.read_bytes().count(b"fakesmsc: sent message") if log.exists() else 0
        self._start("fakesmsc", "-H", "127.0.0.1", "-r", str(self.ports["fake"]), "-m", "1", "-i", "0", "-v", "0",
                    message)  # fmt: skip
        deadline = time.monotonic() + 10
        while log.read_bytes().count(b"fakesmsc: sent message") == sent:
            assert time.monotonic() < deadline, "fakesmsc did not send the message"
            time.sleep(0.05)

    def stop(self) -> None:
        for name in ("wapbox", "smsbox", "fakesmsc", "bearerbox"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def captured(self) -> list[Captured]:
        """Every SMS the fake SMSC received, in order."""
        found = []
        log = self.folder / "fakesmsc.out"
        for line in log.read_text("latin-1").splitlines() if log.exists() else []:
            m = _GOT.search(line)
            if m is None:
                continue
            words = m.group(2).split(" ")
            udh = b""
            i = 2
            if len(words) > i + 1 and words[i] == "udh":
                udh = unquote_to_bytes(words[i + 1])
                i += 2
            coding, rest = words[i], " ".join(words[i + 1 :])
            data = rest.encode("latin-1") if coding == "text" else unquote_to_bytes(rest.replace("+", " "))
            found.append(Captured(to=words[1], udh=udh, data=data))
        return found

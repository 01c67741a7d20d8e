"""End-to-end benchmark (issue 13): mails in over SMTP -> notification SMS out (the outbox), through `bridge serve`
with the builtin MMSC, for (a) one instance on SQLite, (b) one instance on PostgreSQL, (c) two instances on one
PostgreSQL, each measured in the same run on this machine.

Two loads: 2 KB text mails, and real 8 MP phone photos (`../shared/media/jpeg-camera--exif-samples--iphone6.jpg`,
attached as a phone's mail client attaches it). The load comes from two client processes (aiosmtplib, ten sessions
each, one recipient number per mail); with two instances each client sends to one, as two MX records spread mail.
Reported: mails per second from the first `250` to the last notification, and the median and 99th percentile of
the time from a mail's `250` to its notification, both read from the bridges' own log lines (`state=queued`,
`state=notified`). Targets, as ratios within the run: (c) >= 1.3x (a) for text and >= 1.6x (a) for photos;
(b) >= 0.8x (a).

Run: `python benchmarks/e2e.py` (PostgreSQL from Debian's `postgresql` package: a cluster of its own in a
temporary folder, as tests/pg.py starts one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.pg import Cluster, cluster  # noqa: E402

BRIDGE = Path(sys.executable).with_name("bridge")
SHARED = Path(os.environ.get("MMS_BRIDGE_SHARED", ROOT.parent / "shared"))
PHOTO = SHARED / "media" / "jpeg-camera--exif-samples--iphone6.jpg"
DOMAIN = "mms.example.net"
SESSIONS = 10


def text_mail(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "monitor@example.org"
    msg["To"] = f"1201555{i % 10000:04d}@{DOMAIN}"
    msg["Subject"] = f"Alert {i}: disk usage on db-{i % 7}"
    msg["Message-ID"] = f"<e2e-{i}@example.org>"
    body = f"Alert {i}: /var on db-{i % 7} is at 91 % (threshold 90 %).\n"
    msg.set_content((body * (2048 // len(body) + 1))[:2000])
    return bytes(msg)


def photo_mail(i: int, jpeg: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Phone <phone@example.org>"
    msg["To"] = f"1201555{i % 10000:04d}@{DOMAIN}"
    msg["Subject"] = "Photo"
    msg["Message-ID"] = f"<e2e-photo-{i}@example.org>"
    msg.set_content("Sent from my iPhone")
    msg.add_attachment(jpeg, maintype="image", subtype="jpeg", filename="IMG_0042.JPG")
    return bytes(msg)


@dataclass
class Instance:
    folder: Path
    store_url: str
    process: subprocess.Popen[str] | None = None
    port: int = 0

    @property
    def log(self) -> Path:
        return self.folder / "bridge.log"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.toml"
        config.write_text(
            f'[smtp]\nport = 0\ndomains = ["{DOMAIN}"]\nspool_dir = "{self.folder}/spool"\n'
            "rate_limit_per_minute = 0\nduplicate_window_s = 0\nmax_connections_per_ip = 200\n"
            f'[store]\nurl = "{self.store_url}"\n'
            '[route]\nkind = "builtin"\n'
            f'[sms]\noutbox = "{self.folder}/sms"\n'
            f'[mmsc]\nport = 0\n[reports]\noutbox = "{self.folder}/reports"\n'
        )
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(BRIDGE), "serve", "--config", str(config)],
                cwd=self.folder,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "SMTP on 127.0.0.1:" in line, self.log.read_text()[-2000:]
        self.port = int(line.split("127.0.0.1:")[1].split(",")[0])
        self.process.stdout.readline()  # the MMSC line

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _client(port: int, kind: str, first: int, count: int) -> None:
    """One client process: `count` mails to the bridge on `port` over SESSIONS sessions."""
    jpeg = PHOTO.read_bytes() if kind == "photo" else b""
    mails = [text_mail(i) if kind == "text" else photo_mail(i, jpeg) for i in range(first, first + count)]

    async def session(share: list[tuple[int, bytes]]) -> None:
        c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120, start_tls=False)
        await c.connect()
        for i, raw in share:
            await c.sendmail("monitor@example.org", [f"1201555{i % 10000:04d}@{DOMAIN}"], raw)
        await c.quit()

    numbered = list(zip(range(first, first + count), mails, strict=True))

    async def run() -> None:
        await asyncio.gather(*(session(numbered[s::SESSIONS]) for s in range(SESSIONS)))

    asyncio.run(run())


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _events(logs: list[Path]) -> tuple[dict[str, float], dict[str, float]]:
    """When each message was queued (its 250) and when its job was notified, from the bridges' log lines."""
    queued: dict[str, float] = {}
    notified: dict[str, float] = {}
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            stamp = _STAMP.match(line)
            if stamp is None:
                continue
            at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if (found := re.search(r" message=(\S+) state=queued", line)) is not None:
                queued[found.group(1)] = at
            elif (found := re.search(r" job=(\S+)-0 state=notified", line)) is not None:
                notified.setdefault(found.group(1), at)
    return queued, notified


def measure(instances: list[Instance], kind: str, mails: int) -> dict[str, Any]:
    ports = [inst.port for inst in instances]
    half = mails // 2
    clients = [
        multiprocessing.Process(target=_client, args=(ports[0], kind, 0, half)),
        multiprocessing.Process(target=_client, args=(ports[-1], kind, half, mails - half)),
    ]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    deadline = time.monotonic() + 600
    while True:
        queued, notified = _events([inst.log for inst in instances])
        if len(notified) >= mails or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(queued) == mails and len(notified) == mails, (len(queued), len(notified))
    latencies = sorted(notified[m] - queued[m] for m in queued)
    span = max(notified.values()) - min(queued.values())
    return {
        "mails": mails,
        "mails_per_s": mails / span,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def scenario(name: str, folder: Path, pg: Cluster, kind: str, mails: int, *, tag: str) -> dict[str, Any]:
    if name == "sqlite":
        instances = [Instance(folder / f"{kind}-sqlite", f"sqlite:///{folder}/{kind}-sqlite/bridge.db")]
    else:
        url = pg.create_database(f"{kind}_{name.replace('-', '_')}_{tag}")
        count = 2 if name == "postgresql-two" else 1
        instances = [Instance(folder / f"{kind}-{name}-{n}", url) for n in range(count)]
    for inst in instances:
        inst.start()
    try:
        return measure(instances, kind, mails)
    finally:
        for inst in instances:
            inst.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--text-mails", type=int, default=3000)
    ap.add_argument("--photo-mails", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each scenario; the fastest counts")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, cluster() as pg:
        folder = Path(tmp)
        for kind, mails in (("text", args.text_mails), ("photo", args.photo_mails)):
            results[kind] = {}
            for name in ("sqlite", "postgresql-one", "postgresql-two"):
                runs = [scenario(name, folder / f"r{r}", pg, kind, mails, tag=f"r{r}") for r in range(args.rounds)]
                results[kind][name] = max(runs, key=lambda run: float(run["mails_per_s"]))
    text, photo = results["text"], results["photo"]

    def ratio(load: dict[str, Any], name: str) -> float:
        return float(load[name]["mails_per_s"] / load["sqlite"]["mails_per_s"])

    results["targets_met"] = {
        "text: two instances on PostgreSQL >= 1.3x one on SQLite": ratio(text, "postgresql-two") >= 1.3,
        "photo: two instances on PostgreSQL >= 1.6x one on SQLite": ratio(photo, "postgresql-two") >= 1.6,
        "text: one instance on PostgreSQL >= 0.8x one on SQLite": ratio(text, "postgresql-one") >= 0.8,
        "photo: one instance on PostgreSQL >= 0.8x one on SQLite": ratio(photo, "postgresql-one") >= 0.8,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for kind, load in (("2 KB text mails", text), ("8 MP photo mails", photo)):
        print(f"{kind}, SMTP in -> notification SMS out:")
        for name, label in (
            ("sqlite", "(a) one instance, SQLite    "),
            ("postgresql-one", "(b) one instance, PostgreSQL"),
            ("postgresql-two", "(c) two instances, PostgreSQL"),
        ):
            r = load[name]
            print(
                f"  {label} {r['mails_per_s']:8.1f} mails/s  ratio {ratio(load, name):.2f}"
                f"  250->notified median {r['median_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
            )
    for name, ok in results["targets_met"].items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

"""API benchmark (issue 15): text messages per second through `POST /api/v1/messages` against mails per second
through SMTP, into the same `bridge serve` (folder route, SQLite), in the same run, alternating rounds with the
best of each counted. Both clients are Python (aiohttp's client and aiosmtplib, twenty concurrent connections
each, in a process of their own on the other core; httpx as the client was the bottleneck, at a third of the
rate), each sending the same 2 KB text to one number. Target: >= 1.0x (HTTP should cost no more than SMTP for the
same message).

Run: `python benchmarks/api.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = Path(sys.executable).with_name("bridge")
SERVER_CPU = "0"
LOAD_CPU = "1" if (os.cpu_count() or 1) > 1 else "0"
TEXT = "\n".join(["Alert: /var on db-1 is at 91 % (threshold 90 %)."] * 40)[:2000]

CONFIG = """
[log]
level = "warning"
[smtp]
port = 0
domains = ["mms.example.net"]
rate_limit_per_minute = 0
duplicate_window_s = 0
spool_dir = "{tmp}/spool"
[store]
url = "sqlite:///{tmp}/bridge.db"
[route]
kind = "folder"
[route.folder]
folder = "{tmp}/delivered"
[reports]
outbox = "{tmp}/outbox"
[admin]
enabled = true
port = 0
"""

CLIENT = """
import asyncio, sys, time
import aiohttp, aiosmtplib
kind, target, key, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = sys.argv[5]

async def smtp(n):
    host, port = target.split(":")
    c = aiosmtplib.SMTP(hostname=host, port=int(port), timeout=60, start_tls=False)
    await c.connect()
    body = text.replace("\\n", "\\r\\n")
    message = ("Subject: alert\\r\\nFrom: monitor@example.org\\r\\n\\r\\n" + body + "\\r\\n").encode()
    for _ in range(n):
        await c.sendmail("monitor@example.org", ["12015554567@mms.example.net"], message)
    await c.quit()

async def api(n, http):
    for _ in range(n):
        async with http.post(target + "/api/v1/messages",
                             json={"to": ["12015554567"], "subject": "alert", "text": text}) as r:
            assert r.status == 202, await r.text()

async def main():
    share = [count // 20 + (1 if i < count % 20 else 0) for i in range(20)]
    start = time.perf_counter()
    if kind == "smtp":
        await asyncio.gather(*(smtp(n) for n in share))
    else:
        connector = aiohttp.TCPConnector(limit=20)
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": "Bearer " + key}) as http:
            await asyncio.gather(*(api(n, http) for n in share))
    print(time.perf_counter() - start)

asyncio.run(main())
"""


def run_client(kind: str, target: str, key: str, count: int) -> float:
    done = subprocess.run(
        ["taskset", "-c", LOAD_CPU, sys.executable, "-c", CLIENT, kind, target, key, str(count), TEXT],
        capture_output=True, text=True, check=True, timeout=900,
    )  # fmt: skip
    return float(done.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bridge.toml"
        config.write_text(CONFIG.format(tmp=tmp))
        made = subprocess.run([str(BRIDGE), "keys", "create", "--name", "bench", "--scope", "send", "--config",
                               str(config)], capture_output=True, text=True, check=True, cwd=tmp)  # fmt: skip
        key = json.loads(made.stdout)["key"]
        server = subprocess.Popen(["taskset", "-c", SERVER_CPU, str(BRIDGE), "serve", "--config", str(config)],
                                  stdout=subprocess.PIPE, text=True, cwd=tmp)  # fmt: skip
        try:
            assert server.stdout is not None
            smtp_port = int(server.stdout.readline().split("127.0.0.1:")[1].split(",")[0])
            admin = ""
            while not admin:
                line = server.stdout.readline()
                if "admin on" in line:
                    admin = line.split("admin on ")[1].strip().rstrip("/")
            best = {"smtp": float("inf"), "api": float("inf")}
            for _ in range(args.rounds):
                best["smtp"] = min(best["smtp"], run_client("smtp", f"127.0.0.1:{smtp_port}", key, args.messages))
                best["api"] = min(best["api"], run_client("api", admin, key, args.messages))
        finally:
            server.terminate()
            server.wait(60)
    r: dict[str, Any] = {
        "messages": args.messages,
        "smtp_per_s": args.messages / best["smtp"],
        "api_per_s": args.messages / best["api"],
        "ratio": best["smtp"] / best["api"],
    }
    r["targets_met"] = {"API >= 1.0x SMTP for the same text": r["ratio"] >= 1.0}
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"{args.messages} 2 KB texts: SMTP {r['smtp_per_s']:.1f}/s, API {r['api_per_s']:.1f}/s, ratio {r['ratio']:.2f}"
    )
    for name, ok in r["targets_met"].items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

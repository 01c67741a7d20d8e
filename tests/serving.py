"""`bridge serve` as a process, for the tests that need the real command (signals, its log, its limits): the
ports from the two lines it prints when ready (the configurations here all run the builtin MMSC, so both lines
come), and its log (stderr) once SIGTERM has stopped it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BRIDGE = Path(sys.executable).with_name("bridge")


@dataclass
class Served:
    process: subprocess.Popen[str]
    smtp_port: int = 0
    mmsc_url: str = ""
    #: what it wrote to stderr, once it has stopped
    log: str = ""


@contextmanager
def served(tmp: Path, config_text: str, *, preexec_fn: Callable[[], None] | None = None) -> Iterator[Served]:
    config = tmp / "config.toml"
    config.write_text(config_text)
    process = subprocess.Popen(
        [str(BRIDGE), "serve", "--config", str(config)],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    bridge = Served(process)
    try:
        assert process.stdout is not None
        smtp_line, mmsc_line = process.stdout.readline(), process.stdout.readline()
        bridge.smtp_port = int(smtp_line.split("127.0.0.1:")[1].split(",")[0])
        bridge.mmsc_url = mmsc_line.split("MMSC on ")[1].strip().removesuffix("/m/")
        yield bridge
    finally:
        process.send_signal(signal.SIGTERM)
        _, bridge.log = process.communicate(timeout=60)

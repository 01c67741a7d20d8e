"""The mutation fuzzer (tests/hostile/mutate.py) over the 78 real mails, with this run's seed (printed in the
report header): every mutant is converted or refused with an RFC 3463 code, never an exception; a share of them
goes through the running bridge over SMTP, where every reply must carry an enhanced status code, the log no
traceback, and the bridge must keep serving. `python -m tests.hostile.mutate --count N` runs longer."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from bridge.app import Bridge
from bridge.codec.mms import encode_pdu
from bridge.convert.compose import ConversionRefused, convert_mail, send_req
from bridge.model import JobState
from tests.adapters.bridge_fixture import DOMAIN, bridge_config, running
from tests.conftest import FUZZ_SEED
from tests.hostile.mutate import corpus, mutants
from tests.hostile.smtp_wire import FINAL_WITH_ENHANCED, Wire, send_mail
from tests.paths import SHARED

MAILS = corpus(SHARED / "corpus" / "real")
#: the bound on the test process's resident memory after the fuzzed mails (the bridge runs in it)
RSS_BOUND_MIB = 768


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_the_corpus_is_there() -> None:
    assert len(MAILS) >= 70


def test_every_mutant_converts_or_is_refused_with_a_status() -> None:
    problems = []
    for label, data in mutants(MAILS, seed=FUZZ_SEED, count=600):
        try:
            encode_pdu(send_req(convert_mail(data), transaction_id="t", to=("+12015554567/TYPE=PLMN",)))
        except ConversionRefused as exc:
            if not re.fullmatch(r"5\.\d{1,3}\.\d{1,3}", exc.status):
                problems.append(f"{label}: status {exc.status!r}")
        except Exception as exc:
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
    assert not problems, f"seed {FUZZ_SEED}: " + "; ".join(problems[:10])


def test_mutants_through_the_bridge_get_proper_replies_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sample = list(mutants(MAILS, seed=FUZZ_SEED + 1, count=80))

    async def go() -> None:
        async with running(bridge_config(tmp_path)) as bridge:
            assert bridge.port is not None
            port = bridge.port

            def session() -> list[tuple[str, bytes]]:
                replies = []
                with Wire(port) as w:
                    w.command(b"EHLO fuzz.test")
                    for label, data in sample:
                        w.command(b"RSET")
                        w.command(b"MAIL FROM:<fuzz@example.org>")
                        w.command(f"RCPT TO:<12015554567@{DOMAIN}>".encode())
                        go_ahead = w.command(b"DATA")
                        assert go_ahead.startswith(b"354"), (label, go_ahead)
                        body = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
                        lines = [b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n")]
                        # a mutant may have lines over the limit: those are refused, and that is a fine answer
                        w.send(b"\r\n".join(lines) + b"\r\n.\r\n")
                        replies.append((label, w.reply()))
                    replies.append(("NOOP", w.command(b"NOOP")))
                return replies

            replies = await asyncio.to_thread(session)
            for label, reply in replies:
                assert FINAL_WITH_ENHANCED.match(reply), f"seed {FUZZ_SEED + 1} {label}: {reply!r}"
            assert replies[-1][1].startswith(b"250")
            accepted = sum(r.startswith(b"250 2.0.0 queued") for _, r in replies[:-1])
            assert len(await bridge.store.list()) == accepted
            # every accepted mail ends delivered (the folder route takes everything) or failed with one DSN
            for _ in range(400):
                jobs = await bridge.store.list()
                if all(j.state.final for j in jobs):
                    break
                await asyncio.sleep(0.05)
            assert all(j.state.final for j in jobs), [j.state for j in jobs if not j.state.final]
            failed = [j for j in jobs if j.state is not JobState.DELIVERED]
            dsns = [p for p in (tmp_path / "outbox").glob("*.eml") if b"multipart/report" in p.read_bytes()]
            assert len(dsns) == len(failed)  # (the other mails there are notices of content left out)
            await check_still_serving(bridge)
            assert rss_mib() < RSS_BOUND_MIB, f"RSS {rss_mib():.0f} MiB"

    asyncio.run(go())
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, f"seed {FUZZ_SEED + 1}: {tracebacks[0].getMessage()}"


async def check_still_serving(bridge: Bridge) -> None:
    assert bridge.port is not None
    port = bridge.port

    def one() -> bytes:
        return send_mail(port, b"Subject: still here\r\n\r\nhello")

    assert (await asyncio.to_thread(one)).startswith(b"250 2.0.0 queued")

"""Test-wide settings: Hypothesis without per-example deadlines, since CI machines are shared and noisy and a
slow example is not a wrong one (speed lives in benchmarks/, never in tests)."""

from hypothesis import settings

settings.register_profile("bridge", deadline=None, print_blob=True)
settings.load_profile("bridge")

import os  # noqa: E402
import time  # noqa: E402

#: the seed of this run's mutation fuzzer (tests/hostile): a new one per run, printed, and taken from
#: MMS_BRIDGE_FUZZ_SEED to replay a run
FUZZ_SEED = int(os.environ.get("MMS_BRIDGE_FUZZ_SEED") or time.time())


def pytest_report_header() -> str:
    return f"mutation fuzzer seed: {FUZZ_SEED} (MMS_BRIDGE_FUZZ_SEED={FUZZ_SEED} replays it)"


def pytest_terminal_summary(terminalreporter: object) -> None:
    # the header is not shown under -q (the test command's mode): say it at the end as well
    terminalreporter.write_line(f"mutation fuzzer seed: {FUZZ_SEED}")  # type: ignore[attr-defined]


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    # the PostgreSQL cluster the store tests started, if any (tests/pg.py)
    from tests.pg import stop_shared_cluster

    stop_shared_cluster()

"""The pure delivery decisions."""

from __future__ import annotations

import pytest

from bridge.model import MSISDN, Job, JobState, Notify, Report
from bridge.pipeline import (
    ActionKind,
    Outcome,
    OutcomeKind,
    RetryPolicy,
    backoff_s,
    decide,
    expired,
)

POLICY = RetryPolicy(first_retry_s=60, max_retry_s=3600, jitter=0.2, delay_warning_s=4 * 3600)


def job(**kw: object) -> Job:
    base: dict[str, object] = {
        "id": "j1",
        "message_id": "m1",
        "recipient": MSISDN(e164="+12015554567"),
        "state": JobState.LEASED,
        "attempts": 0,
        "created_at": 1000.0,
        "expires_at": 1000.0 + 2 * 86400,
        "next_attempt_at": 1000.0,
    }
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


TEMP = Outcome(kind=OutcomeKind.TEMPORARY, status="4.4.1", detail="MMSC busy")


def test_backoff_doubles_up_to_the_cap_and_jitters_both_ways() -> None:
    assert [backoff_s(n, POLICY, 0.5) for n in (1, 2, 3, 7, 8, 20)] == [60, 120, 240, 3600, 3600, 3600]
    assert backoff_s(1, POLICY, 0.0) == pytest.approx(48)
    assert backoff_s(1, POLICY, 0.999999) == pytest.approx(72, abs=0.01)


def test_delivered_is_complete_with_a_dsn_only_when_asked() -> None:
    ok = Outcome(kind=OutcomeKind.DELIVERED, status="2.0.0", mmsc_id="x")
    assert decide(job(), ok, now=2000, policy=POLICY, draw=0.5).report is None
    asked = decide(job(notify=frozenset({Notify.SUCCESS, Notify.FAILURE})), ok, now=2000, policy=POLICY, draw=0.5)
    assert asked.kind is ActionKind.COMPLETE and asked.report is Report.DELIVERED


def test_permanent_failure_bounces_now_unless_never() -> None:
    bad = Outcome(kind=OutcomeKind.PERMANENT, status="5.1.1", detail="unknown subscriber")
    action = decide(job(), bad, now=2000, policy=POLICY, draw=0.5)
    assert (action.kind, action.report, action.status) == (ActionKind.FAIL, Report.FAILED, "5.1.1")
    assert decide(job(notify=frozenset({Notify.NEVER})), bad, now=2000, policy=POLICY, draw=0.5).report is None


def test_temporary_failure_retries_later_but_never_past_the_expiry() -> None:
    action = decide(job(attempts=2), TEMP, now=2000, policy=POLICY, draw=0.5)
    assert action.kind is ActionKind.RETRY and action.at == 2000 + 240
    near_end = job(attempts=10, expires_at=2100.0)
    assert decide(near_end, TEMP, now=2000, policy=POLICY, draw=0.5).at == 2100.0


def test_past_the_expiry_a_temporary_failure_expires_with_4_4_7() -> None:
    action = decide(job(expires_at=1500.0), TEMP, now=2000, policy=POLICY, draw=0.5)
    assert (action.kind, action.status, action.report) == (ActionKind.EXPIRE, "4.4.7", Report.FAILED)
    assert expired(job(expires_at=1500.0), 2000) is not None and expired(job(), 2000) is None


def test_one_delayed_dsn_after_the_warning_time() -> None:
    late = 1000 + 4 * 3600 + 1
    assert decide(job(), TEMP, now=late, policy=POLICY, draw=0.5).report is Report.DELAYED
    assert decide(job(delay_notified=True), TEMP, now=late, policy=POLICY, draw=0.5).report is None
    assert decide(job(), TEMP, now=late - 10, policy=POLICY, draw=0.5).report is None
    never = RetryPolicy(delay_warning_s=None)
    assert decide(job(), TEMP, now=late, policy=never, draw=0.5).report is None

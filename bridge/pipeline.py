"""The pure decisions of delivery: given a job, what just happened to it and the time, what to do next.

No I/O and no clock: `now` and the jitter's random draw are arguments, so every rule is a plain function test.
Rules (DESIGN.md "Delivery semantics", RFC 3461/3464 for the reports):
- delivered: done; a "delivered" DSN only when the sender asked (NOTIFY=SUCCESS or Return-Receipt-To) and the
  phone did not answer X-Mms-Report-Allowed: No; sent on as an SMS with a link instead: a "relayed" DSN when
  asked, or when the MMS had failed and NOTIFY has FAILURE;
- pending (the MMSC took it, the phone has not confirmed): look again at the next point of the re-notification
  schedule, never later than the expiry; the same "delayed" DSN rule as for retries;
- permanent failure: failed now, with a "failed" DSN unless NOTIFY=NEVER;
- temporary failure: retry with exponential backoff and jitter, never later than the expiry; past the
  expiry: expired, DSN status 4.4.7; once, after `delay_warning_s`, a "delayed" DSN if NOTIFY allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.model import Job, Notify, Report


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"
    PENDING = "pending"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    kind: OutcomeKind
    status: str
    detail: str = ""
    mmsc_id: str | None = None
    route: str | None = None
    #: a temporary failure's "not before": the next try waits at least this long (0: the backoff alone)
    retry_after_s: float = 0.0
    #: delivered as an SMS with a link instead of an MMS (after the MMS failed: `instead_of_failure`)
    relayed: bool = False
    instead_of_failure: bool = False


class ActionKind(StrEnum):
    COMPLETE = "complete"
    RETRY = "retry"
    WAIT = "wait"
    FAIL = "fail"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    first_retry_s: float = 60.0
    max_retry_s: float = 3600.0
    #: each wait is multiplied by a factor drawn from [1 - jitter, 1 + jitter]
    jitter: float = 0.2
    #: a "delayed" DSN after this long without delivery; None: never
    delay_warning_s: float | None = 4 * 3600.0
    #: after the n-th notification of a phone, wait renotify_s[n - 1] (the last one repeats) before the next
    renotify_s: tuple[float, ...] = (600.0, 3600.0, 4 * 3600.0, 12 * 3600.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    kind: ActionKind
    status: str
    detail: str
    at: float | None = None
    report: Report | None = None


EXPIRED_STATUS = "4.4.7"


def backoff_s(attempt: int, policy: RetryPolicy, draw: float) -> float:
    """The wait before try number `attempt + 1`; `draw` is uniform in [0, 1)."""
    base = min(policy.max_retry_s, policy.first_retry_s * 2.0 ** max(0, attempt - 1))
    return base * (1 - policy.jitter + 2 * policy.jitter * draw)


def renotify_at(notifications: int, policy: RetryPolicy, now: float) -> float:
    """When to tell the phone again after its `notifications`-th notification."""
    schedule = policy.renotify_s
    return now + schedule[min(max(notifications, 1), len(schedule)) - 1]


def expired(job: Job, now: float) -> Action | None:
    """Before an attempt: a job past its expiry is not tried again (unless the phone already has it)."""
    if now < job.expires_at or (job.handset is not None and job.handset.received):
        return None
    return Action(
        kind=ActionKind.EXPIRE,
        status=EXPIRED_STATUS,
        detail=f"not delivered before the message expired ({job.last_error or 'no answer'})",
        report=Report.FAILED if Notify.NEVER not in job.notify else None,
    )


def decide(job: Job, outcome: Outcome, *, now: float, policy: RetryPolicy, draw: float) -> Action:
    if outcome.kind is OutcomeKind.DELIVERED and outcome.relayed:
        # "relayed" (RFC 3464 2.3.3) when the sender asked for success reports, or when it stands for a failure
        # the sender would have been told of
        asked = Notify.SUCCESS in job.notify or (outcome.instead_of_failure and Notify.FAILURE in job.notify)
        return Action(
            kind=ActionKind.COMPLETE,
            status=outcome.status,
            detail=outcome.detail,
            report=Report.RELAYED if asked else None,
        )
    if outcome.kind is OutcomeKind.DELIVERED:
        return Action(
            kind=ActionKind.COMPLETE,
            status=outcome.status,
            detail=outcome.detail,
            report=Report.DELIVERED if Notify.SUCCESS in job.notify and job.report_allowed else None,
        )
    if outcome.kind is OutcomeKind.PERMANENT:
        return Action(
            kind=ActionKind.FAIL,
            status=outcome.status,
            detail=outcome.detail,
            report=Report.FAILED if Notify.NEVER not in job.notify else None,
        )
    if now >= job.expires_at:
        return Action(
            kind=ActionKind.EXPIRE,
            status=EXPIRED_STATUS,
            detail=f"not delivered before the message expired: {outcome.detail}",
            report=Report.FAILED if Notify.NEVER not in job.notify else None,
        )
    if outcome.kind is OutcomeKind.PENDING:
        at = min(renotify_at(job.attempts + 1, policy, now), job.expires_at)
    else:
        wait = max(backoff_s(job.attempts + 1, policy, draw), outcome.retry_after_s)
        at = min(now + wait, job.expires_at)
    warn = (
        policy.delay_warning_s is not None
        and not job.delay_notified
        and Notify.DELAY in job.notify
        and now - job.created_at >= policy.delay_warning_s
    )
    return Action(
        kind=ActionKind.WAIT if outcome.kind is OutcomeKind.PENDING else ActionKind.RETRY,
        status=outcome.status,
        detail=outcome.detail,
        at=at,
        report=Report.DELAYED if warn else None,
    )

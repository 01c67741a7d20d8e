"""The delivery worker: lease jobs, hand each to its route, record what happened, tell the sender.

It holds the one per-job catch-all of the bridge: whatever a route raises that is not one of our delivery
errors becomes a temporary failure (status 4.3.0) and is logged, so one bad job never stops the others. The
decisions themselves are `bridge.pipeline`'s. Reports go out before the final state is recorded: after a crash
in between, the job is tried again (the route is idempotent) and the report may go twice, but is never lost.

One log line per state change, with stable keys: `job= state= to= status= attempts= mmsc_id=`; phone numbers
masked; no content.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.adapters.mail.base import MailSender
from bridge.adapters.mmsc.base import Delivery, Route
from bridge.adapters.store.base import QueueStore, Transition
from bridge.convert.dsn import RecipientStatus, build_change_notice, build_dsn, is_report, may_report
from bridge.convert.mdn import original_message_id
from bridge.errors import BridgeError, PermanentFailure, TemporaryFailure
from bridge.logs import shown
from bridge.metrics import Metrics
from bridge.model import Job, JobState, Report, StoredMessage
from bridge.pipeline import Action, ActionKind, Outcome, OutcomeKind, RetryPolicy, decide, expired

log = logging.getLogger("bridge.worker")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    owner: str
    reporting_mta: str
    lease_s: float = 300.0
    batch: int = 20
    poll_s: float = 1.0
    concurrency: int = 8
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: content of finished messages is removed this long after their last job ended (None: kept)
    content_grace_s: float | None = None
    sweep_every_s: float = 60.0
    #: after a partial batch or a wake-up, wait this long for more jobs before leasing again
    gather_s: float = 0.02
    #: tell the sender, in one notice, what the conversion left out when no DSN does (reports.notify_changes)
    notify_changes: bool = True


#: the state each decision takes a job to, and the word its log line uses
_TARGET = {
    ActionKind.COMPLETE: JobState.DELIVERED,
    ActionKind.RETRY: JobState.QUEUED,
    ActionKind.WAIT: JobState.NOTIFIED,
    ActionKind.FAIL: JobState.FAILED,
    ActionKind.EXPIRE: JobState.EXPIRED,
}
_LOGGED_STATE = {
    ActionKind.COMPLETE: "delivered",
    ActionKind.RETRY: "retry",
    ActionKind.WAIT: "notified",
    ActionKind.FAIL: "failed",
    ActionKind.EXPIRE: "expired",
}


def _outcome_of(delivery: Delivery) -> Outcome:
    return Outcome(
        kind=OutcomeKind.PENDING if delivery.pending else OutcomeKind.DELIVERED,
        status=delivery.status,
        detail=delivery.detail,
        mmsc_id=delivery.mmsc_id,
        route=delivery.route,
        relayed=delivery.relayed,
        instead_of_failure=delivery.instead_of_failure,
    )


def transition_for(job: Job, action: Action, outcome: Outcome | None, *, owner: str, now: float) -> Transition:
    """The store's record of `action` decided for `job`."""
    to = _TARGET[action.kind]
    took = outcome is not None and to in (JobState.DELIVERED, JobState.NOTIFIED)
    return Transition(
        job_id=job.id,
        owner=owner,
        to=to,
        now=now,
        status="2.0.0" if to is JobState.DELIVERED else action.status,
        error=action.detail if to in (JobState.QUEUED, JobState.FAILED, JobState.EXPIRED) else None,
        at=action.at,
        mmsc_id=outcome.mmsc_id if took and outcome is not None else None,
        route=outcome.route if took and outcome is not None else None,
        delay_notified=job.delay_notified or action.report is Report.DELAYED,
    )


class Worker:
    def __init__(
        self,
        *,
        store: QueueStore,
        route: Route,
        mailer: MailSender,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
        on_expiry: Callable[[Job, StoredMessage], Awaitable[Delivery | None]] | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.on_expiry = on_expiry
        self.store = store
        self.route = route
        self.mailer = mailer
        self.settings = settings
        self.clock = clock
        self.draw = draw
        self._wake = asyncio.Event()
        self._next_sweep = 0.0

    def wake(self) -> None:
        """New work was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`. Store trouble is waited out; anything else escaping one round is logged and the loop
        goes on. Should this task end with an exception all the same, `bridge serve` stops the process
        (exit status 70) rather than accept mail that no worker delivers."""
        while not stop.is_set():
            try:
                await self.sweep()
                done = await self.run_once()
            except BridgeError as exc:  # the store is down: wait and try again, never crash the process
                log.error("worker=%s error=%r", self.settings.owner, exc)
                done = 0
            except Exception:
                log.exception("worker=%s unexpected error", self.settings.owner)
                done = 0
            if done:
                if done < self.settings.batch:
                    await self._gather(stop)
                continue
            self._wake.clear()
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            await asyncio.wait(waiters, timeout=self.settings.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self._wake.is_set():
                await self._gather(stop)
        await self.store.release(owner=self.settings.owner)

    async def _gather(self, stop: asyncio.Event) -> None:
        """Let the jobs arriving together gather into one lease: under a burst of mail, one lease, one read and
        one commit serve many jobs instead of one each."""
        if self.settings.gather_s and not stop.is_set():
            await asyncio.sleep(self.settings.gather_s)

    async def sweep(self) -> int:
        """Remove the content of messages finished more than `content_grace_s` ago (at most once a minute)."""
        now = self.clock()
        if self.settings.content_grace_s is None or now < self._next_sweep:
            return 0
        self._next_sweep = now + self.settings.sweep_every_s
        swept = await self.store.sweep(before=now - self.settings.content_grace_s)
        if swept:
            log.info("sweep messages=%d content=removed", swept)
        return swept

    async def run_once(self) -> int:
        jobs = await self.store.lease(
            owner=self.settings.owner, now=self.clock(), lease_s=self.settings.lease_s, limit=self.settings.batch
        )
        if not jobs:
            return 0
        gate = asyncio.Semaphore(self.settings.concurrency)
        # the batch's MMS in one read; the mail itself is read back only for a report
        messages = await self.store.messages([j.message_id for j in jobs], with_raw=False)

        async def one(job: Job) -> None:
            async with gate:
                try:
                    await self.process(job, messages.get(job.message_id))
                except BridgeError as exc:  # the store: the lease runs out and the job is taken again
                    log.error("job=%s error=%r", job.id, exc)
                except Exception:
                    # a bug met by one job must not stop the others: its lease runs out and it is tried again
                    log.exception("job=%s unexpected error", job.id)

        await asyncio.gather(*(one(j) for j in jobs))
        return len(jobs)

    async def process(self, job: Job, message: StoredMessage | None = None) -> None:
        if message is None:
            message = await self.store.message(job.message_id, with_raw=False)
        action = expired(job, self.clock())
        outcome = None
        if action is None:
            outcome = await self._attempt(job, message)
        elif self.on_expiry is not None:
            # a route with `fallback_sms` sends the phone a link instead of letting the message expire unfetched
            try:
                relayed = await self.on_expiry(job, message)
            except (TemporaryFailure, PermanentFailure) as exc:
                log.warning("job=%s link=failed error=%r", job.id, exc)
                relayed = None
            outcome = _outcome_of(relayed) if relayed is not None else None
        if outcome is not None:
            action = decide(job, outcome, now=self.clock(), policy=self.settings.policy, draw=self.draw())
        assert action is not None
        if action.report is not None:
            try:
                await self._report(job, message, action)
            except TemporaryFailure as exc:
                # leave the job leased: when the lease runs out it is decided (and reported) again
                log.warning("job=%s report=%s error=%r", job.id, action.report, exc)
                return
            except PermanentFailure as exc:
                # the report can never go (a relay refused the address for good): the job still ends
                log.warning("job=%s report=%s error=%r dropped=yes", job.id, action.report, exc)
        elif self._owes_change_notice(job, action, message):
            try:
                await self._change_notice(job, message)
            except (TemporaryFailure, PermanentFailure) as exc:  # a notice never holds up the message itself
                log.warning("job=%s notice=changes error=%r dropped=yes", job.id, exc)
        await self._record(job, action, outcome)

    def _owes_change_notice(self, job: Job, action: Action, message: StoredMessage) -> bool:
        """One notice per message, when its content was cut and no DSN says so: with its first job's first
        hand-over (the job ids of a message end in -0, -1, ...)."""
        return (
            self.settings.notify_changes
            and bool(message.changes)
            and job.attempts == 0
            and job.id.endswith("-0")
            and action.kind in (ActionKind.COMPLETE, ActionKind.WAIT)
        )

    async def _change_notice(self, job: Job, message: StoredMessage) -> None:
        full = await self.store.message(job.message_id)
        if not may_report(mail_from=full.mail_from, auto_submitted=full.auto_submitted, is_report=is_report(full.raw)):
            return
        data = build_change_notice(
            reporting_mta=self.settings.reporting_mta,
            to=full.mail_from,
            recipients=[job.rcpt_to or job.recipient.masked],
            changes=full.changes,
            original_message_id=original_message_id(full.raw),
            subject=full.subject,
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        await self.mailer.send(mail_from="", to=full.mail_from, data=data)
        self.metrics.reports_sent.labels(kind="change-notice").inc()
        await self.store.note(job.id, at=self.clock(), what="notice of what was left out sent to the sender")
        log.info("job=%s notice=changes to_sender=yes changes=%d", job.id, len(full.changes))

    async def _attempt(self, job: Job, message: StoredMessage) -> Outcome:
        outcome = await self._try_route(job, message)
        self.metrics.deliveries.labels(route=outcome.route or job.route or "none", outcome=outcome.kind.value).inc()
        return outcome

    async def _try_route(self, job: Job, message: StoredMessage) -> Outcome:
        try:
            delivery = await self.route.deliver(job, message)
        except PermanentFailure as exc:
            return Outcome(kind=OutcomeKind.PERMANENT, status=exc.status, detail=exc.detail)
        except TemporaryFailure as exc:
            return Outcome(
                kind=OutcomeKind.TEMPORARY, status=exc.status, detail=exc.detail, retry_after_s=exc.retry_after_s
            )
        except Exception as exc:  # the per-job catch-all: a route bug must not stop the queue
            log.exception("job=%s route=%s unexpected error", job.id, self.route.name)
            return Outcome(kind=OutcomeKind.TEMPORARY, status="4.3.0", detail=f"internal error: {exc!r}")
        return _outcome_of(delivery)

    async def _record(self, job: Job, action: Action, outcome: Outcome | None) -> None:
        recorded = await self.store.record(
            transition_for(job, action, outcome, owner=self.settings.owner, now=self.clock())
        )
        if not recorded:
            # another worker holds the job now (this one's lease ran out) or the phone answered first: its
            # outcome stands, this one's is dropped
            log.warning("job=%s lease=lost owner=%s state=%s", job.id, self.settings.owner, _LOGGED_STATE[action.kind])
            return
        state, now = _LOGGED_STATE[action.kind], self.clock()
        self.metrics.job_transitions.labels(state=state).inc()
        if state == "notified" and job.mmsc_id is None:  # the first hand-over, not a re-notification
            self.metrics.queued_to_notified_seconds.observe(max(0.0, now - job.created_at))
        elif state == "delivered":
            self.metrics.end_to_end_seconds.observe(max(0.0, now - job.created_at))
        log.info(
            "job=%s state=%s to=%s status=%s attempts=%d mmsc_id=%s",
            job.id,
            _LOGGED_STATE[action.kind],
            shown(job.recipient),
            action.status,
            job.attempts + 1,
            outcome.mmsc_id if outcome and outcome.mmsc_id else "-",
        )

    async def _report(self, job: Job, message: StoredMessage, action: Action) -> None:
        assert action.report is not None
        message = await self.store.message(job.message_id)
        if not may_report(
            mail_from=message.mail_from, auto_submitted=message.auto_submitted, is_report=is_report(message.raw)
        ):
            return
        now = datetime.fromtimestamp(self.clock(), UTC)
        data = build_dsn(
            report=action.report,
            reporting_mta=self.settings.reporting_mta,
            to=message.mail_from,
            recipients=[
                RecipientStatus(
                    rcpt_to=job.rcpt_to or job.recipient.e164,
                    original_recipient=job.original_recipient,
                    status=action.status,
                    diagnostic=action.detail or action.status,
                    last_attempt=now,
                    will_retry_until=(
                        datetime.fromtimestamp(job.expires_at, UTC) if action.report is Report.DELAYED else None
                    ),
                )
            ],
            original=message.raw,
            arrival=datetime.fromtimestamp(message.received_at, UTC),
            envid=message.envid,
            ret_full=message.ret_full,
            subject=message.subject,
            now=now,
            changes=message.changes,
        )
        await self.mailer.send(mail_from="", to=message.mail_from, data=data)
        self.metrics.reports_sent.labels(kind=f"dsn-{action.report}").inc()
        await self.store.note(
            job.id, at=self.clock(), what=f"DSN ({action.report}, {action.status}) sent to the sender"
        )
        log.info("job=%s report=%s to_sender=yes status=%s", job.id, action.report, action.status)

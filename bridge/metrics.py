"""What the bridge counts, in Prometheus' terms (prometheus-client; its text format is served on the admin
listener at `/metrics`).

One `Metrics` per running bridge, with its own registry (several bridges in one test process do not mix). Names
follow Prometheus' conventions: a `bridge_` prefix, units in the name (`_seconds`, `_bytes`), `_total` on counters.
No label carries a phone number, an address or anything else a mail wrote: labels are route names, states,
enhanced status codes and fixed words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: from a few milliseconds (a text mail) to the minutes a phone takes to fetch
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def enhanced_status(reply: str) -> str:
    """The RFC 3463 code of an SMTP reply ("554 5.6.1 …" -> "5.6.1"), or "none"."""
    found = _ENHANCED.search(reply)
    return found.group(1) if found else "none"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.mails_accepted = Counter(
            "bridge_mails_accepted", "Mails committed to the queue (answered 250)", registry=r
        )
        self.mails_refused = Counter(
            "bridge_mails_refused", "Mails or recipients refused, by enhanced status code", ["status"], registry=r
        )
        self.job_transitions = Counter(
            "bridge_job_transitions", "Job state changes a worker recorded, by the state entered", ["state"], registry=r
        )
        self.deliveries = Counter(
            "bridge_deliveries", "Attempts to hand a job to a route, by route and outcome", ["route", "outcome"],
            registry=r,
        )  # fmt: skip
        self.notifications = Counter(
            "bridge_notifications", "WAP Push notifications sent by the builtin MMSC, by transport and result",
            ["transport", "result"], registry=r,
        )  # fmt: skip
        self.handset_answers = Counter(
            "bridge_handset_answers", "What phones and MMSCs said about a message, by answer", ["answer"], registry=r
        )
        self.reports_sent = Counter(
            "bridge_reports_sent", "Delivery status notifications and read reports sent, by kind", ["kind"], registry=r
        )
        self.conversion_seconds = Histogram(
            "bridge_conversion_seconds", "Time to convert one mail to an MMS", registry=r, buckets=_LATENCY_BUCKETS
        )
        self.queued_to_notified_seconds = Histogram(
            "bridge_queued_to_notified_seconds", "From the 250 to the first notification or hand-over to an MMSC",
            registry=r, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.notified_to_fetched_seconds = Histogram(
            "bridge_notified_to_fetched_seconds", "From the notification to the phone's fetch", registry=r,
            buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.end_to_end_seconds = Histogram(
            "bridge_end_to_end_seconds", "From the 250 to delivered", registry=r, buckets=_LATENCY_BUCKETS
        )
        self.store_commit_seconds = Histogram(
            "bridge_store_commit_seconds", "One commit of the job store (a batch of writes)", registry=r,
            buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.jobs = Gauge("bridge_jobs", "Jobs in the store, by state (read at each scrape)", ["state"], registry=r)
        self.oldest_due_job_age_seconds = Gauge(
            "bridge_oldest_due_job_age_seconds", "How long the job due longest has waited (0: none due)", registry=r
        )
        self.smpp_bound = Gauge("bridge_smpp_bound", "1 while the SMPP bind is up", registry=r)
        self.smpp_window_in_use = Gauge("bridge_smpp_window_in_use", "submit_sm sent and not yet answered", registry=r)

    def watch_smpp(self, bound: Callable[[], bool], in_flight: Callable[[], int]) -> None:
        self.smpp_bound.set_function(lambda: 1.0 if bound() else 0.0)
        self.smpp_window_in_use.set_function(lambda: float(in_flight()))

    def refused(self, reply: str) -> None:
        self.mails_refused.labels(status=enhanced_status(reply)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

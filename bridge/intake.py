"""The intake use case: one mail offered by a sender for some numbers becomes a stored message and its jobs, or
a refusal with its RFC 3463 code. Every way in (SMTP and LMTP today; the HTTP API and phones' replies later)
hands it a typed `Submission` and answers with what it returns; none of them decides anything of its own.

Owns: who may send (authenticated users, an allow-list of addresses and domains) and the per-sender rate limit
(450 4.7.1); which numbers are taken (`bridge.recipients`: relaying refused, E.164, number types, prefixes; at
most `max_recipients`, 452 4.5.3); the mail's own check (DKIM, when the way in provides one: its refusal, or
the `Authentication-Results` header it adds); the budget (the strictest of the recipients' routes); conversion
to MMS in a bounded thread pool (554 with the converter's code, 451 4.3.0 past `conversion_deadline_s`), small
text mails converted at once without waiting behind large ones; the DSN options of each job; and the durable
commit — `Accepted` only once the message and its jobs are stored (451 4.3.0 when the store fails).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge import ids
from bridge.adapters.store.base import IntakeStore, NewJob
from bridge.codec.mms import encode_pdu
from bridge.convert.compose import Conversion, ConversionRefused, ConvertOptions, convert_mail, send_req
from bridge.convert.profile import Profile, strictest
from bridge.errors import BridgeError, DecodeError, EncodeError, StoreError
from bridge.metrics import Metrics
from bridge.model import MSISDN, Notify, StoredMessage
from bridge.recipients import RecipientPolicy, Refusal, parse_recipient

log = logging.getLogger("bridge.intake")

#: mails up to this size with no base64 or uuencoded part (no picture to decode) are converted in the event loop
INLINE_BYTES = 16 * 1024
_ENCODED_MEDIA = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*(?:base64|x-uuencode|x-uue)|^begin [0-7]{3} ")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeSettings:
    hostname: str
    recipients: RecipientPolicy
    max_recipients: int
    require_auth: bool
    allowed_senders: tuple[str, ...]
    rate_limit_per_minute: int
    expiry_s: float
    #: the same Message-ID from the same sender to the same number within this long is queued once (0: off)
    duplicate_window_s: float = 0.0
    profile: Profile
    convert: ConvertOptions
    #: a conversion still running after this long is answered 451 4.3.0 (the sender's MTA tries again later)
    conversion_deadline_s: float = 60.0
    #: the budget of the route that takes a number (`[[route]]` profile); None: `profile` for every number
    route_profile: Callable[[MSISDN], Profile] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """One accepted recipient: the address as the sender wrote it, its number, and its DSN options (RFC 3461)."""

    address: str
    number: MSISDN
    notify: frozenset[Notify] = frozenset()
    original_recipient: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MailVerdict:
    """What the way in's own check of the mail (DKIM for SMTP) found: a header line to add, or a refusal."""

    header: str = ""
    refusal: Refusal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    sender: str
    recipients: tuple[Recipient, ...]
    #: the mail, in memory or in a spool file (read when its turn to convert comes)
    raw: bytes | None = None
    spool_path: Path | None = None
    size: int = 0
    #: RFC 3461: ENVID and RET=FULL
    envid: str | None = None
    ret_full: bool = False
    #: the authenticated identity (SMTP AUTH login, API key), None when anonymous
    identity: str | None = None
    #: the way in's check of the mail's own signature, run on the mail once it is read
    verify: Callable[[bytes], Awaitable[MailVerdict]] | None = None
    #: sent through the HTTP API: where its state changes are posted, and by which key
    status_callback: str | None = None
    api_key_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    message_id: str
    job_ids: tuple[str, ...]
    #: the number of each job of `job_ids`, in the same order
    numbers: tuple[str, ...] = ()
    #: jobs already queued for this mail (the client sent it again), by the recipients that were not queued again
    already_queued: tuple[str, ...] = ()

    @property
    def reply(self) -> str:
        if not self.job_ids:
            return f"250 2.0.0 already queued as {', '.join(self.already_queued)}"
        return f"250 2.0.0 queued as {self.message_id}"


class _Overrun(BridgeError):
    """A conversion past its deadline: the refusal to give now, and the thread's future still running."""

    def __init__(self, future: asyncio.Future[Any], refusal: Refusal) -> None:
        super().__init__(refusal.reply)
        self.future = future
        self.refusal = refusal


def _sender_allowed(sender: str, allowed: tuple[str, ...]) -> bool:
    sender = sender.lower()
    domain = "@" + sender.rpartition("@")[2]
    return any(a.lower() in (sender, domain) for a in allowed)


class Intake:
    def __init__(
        self,
        *,
        settings: IntakeSettings,
        store: IntakeStore,
        executor: ThreadPoolExecutor,
        conversion_slots: int,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.store = store
        self.executor = executor
        # mails read and converted at once: each holds its whole text in memory
        self._gate = asyncio.Semaphore(max(1, conversion_slots))
        self.on_queued = on_queued
        self.clock = clock

    async def check_sender(self, sender: str, *, identity: str | None) -> Refusal | None:
        refusal = await self._check_sender(sender, identity=identity)
        if refusal is not None:
            self.metrics.refused(refusal.reply)
        return refusal

    async def _check_sender(self, sender: str, *, identity: str | None) -> Refusal | None:
        """None when `sender` ("" for the null sender) may send now (and it counts for its rate), else why not.
        The rate is counted in the store, so that every bridge sharing it counts the sender's mails together."""
        s = self.settings
        if s.require_auth and identity is None:
            return Refusal("530 5.7.0 Authentication required")
        if s.allowed_senders and identity is None and not _sender_allowed(sender, s.allowed_senders):
            return Refusal(f"550 5.7.1 <{sender}> may not send through this gateway")
        if s.rate_limit_per_minute and sender:
            try:
                allowed = await self.store.count_send(
                    f"sender:{sender.lower()}", limit=s.rate_limit_per_minute, window_s=60, now=self.clock()
                )
            except StoreError as exc:
                log.error("intake=store-failed stage=mail error=%r", exc)
                return Refusal("451 4.3.0 Temporary storage failure, try again later")
            if not allowed:
                return Refusal(f"450 4.7.1 Too many mails from <{sender}>, try again later")
        return None

    def check_recipient(self, address: str, *, accepted: int) -> MSISDN | Refusal:
        """The number `address` reaches, or why it is refused; `accepted`: recipients taken so far."""
        if accepted >= self.settings.max_recipients:
            found: MSISDN | Refusal = Refusal(
                f"452 4.5.3 Too many recipients (at most {self.settings.max_recipients} per mail)"
            )
        else:
            found = parse_recipient(address, self.settings.recipients)
        if isinstance(found, Refusal):
            self.metrics.refused(found.reply)
        return found

    async def submit(self, submission: Submission) -> Accepted | Refusal:
        outcome = await self._submit(submission)
        if isinstance(outcome, Refusal):
            self.metrics.refused(outcome.reply)
        elif outcome.job_ids:
            self.metrics.mails_accepted.inc()
        return outcome

    async def _submit(self, submission: Submission) -> Accepted | Refusal:
        started = self.clock()
        gate = self._gate
        if submission.spool_path is None and len(submission.raw or b"") <= INLINE_BYTES:
            # a small mail holds little memory and converts in well under a millisecond: it never queues behind
            # the large ones at the gate, so no large mail can hold up its answer
            prepared = await self._prepare(submission)
        else:
            await gate.acquire()  # reading and converting hold the whole mail; committing does not
            try:
                prepared = await self._prepare(submission)
            except _Overrun as overrun:
                # the thread cannot be stopped: its slot stays taken until it ends, so that a client sending
                # the same mail again and again cannot pile up conversions
                overrun.future.add_done_callback(lambda _: gate.release())
                return overrun.refusal
            except BaseException:
                gate.release()
                raise
            gate.release()
        if isinstance(prepared, Refusal):
            return prepared
        message, jobs = prepared
        try:
            duplicates = await self.store.put(message, jobs)
        except StoreError as exc:
            log.error("intake=store-failed error=%r", exc)
            return Refusal("451 4.3.0 Temporary storage failure, try again later")
        self.on_queued()
        log.info(
            "message=%s state=queued recipients=%d bytes=%d mms_bytes=%d ms=%d",
            message.id,
            len(jobs),
            submission.size,
            len(message.mms),
            (self.clock() - started) * 1000,
        )
        fresh = [j for j in jobs if j.id not in duplicates]
        if duplicates:
            log.info("message=%s duplicate=yes already_queued=%s", message.id, ",".join(duplicates.values()))
        return Accepted(
            message_id=message.id,
            job_ids=tuple(j.id for j in fresh),
            numbers=tuple(j.recipient.e164 for j in fresh),
            already_queued=tuple(duplicates.values()),
        )

    async def _prepare(self, sub: Submission) -> Refusal | tuple[StoredMessage, list[NewJob]]:
        """The stored message and its jobs, or the refusal."""
        if sub.spool_path is not None:
            raw = await asyncio.to_thread(sub.spool_path.read_bytes)
        else:
            raw = sub.raw or b""
        if sub.verify is not None:
            verdict = await sub.verify(raw)
            if verdict.refusal is not None:
                return verdict.refusal
            if verdict.header:
                raw = f"Authentication-Results: {self.settings.hostname}; {verdict.header}\r\n".encode() + raw
        numbers = [r.number for r in sub.recipients]
        route_profile = self.settings.route_profile
        profile = strictest([route_profile(m) for m in numbers]) if route_profile else self.settings.profile
        queue_id = ids.token_hex(8)
        converted = await self._convert(raw, sub, profile, queue_id)
        if isinstance(converted, Refusal):
            return converted
        mms, conv = converted
        now = self.clock()
        message = StoredMessage(
            id=queue_id,
            mail_from=sub.sender,
            received_at=now,
            raw=raw,
            mms=mms,
            envid=sub.envid,
            ret_full=sub.ret_full,
            auto_submitted=conv.auto_submitted,
            subject=conv.subject,
            changes=conv.changes,
            mail_message_id=conv.mail_message_id,
            status_callback=sub.status_callback,
            api_key_id=sub.api_key_id,
        )
        jobs = []
        for i, rcpt in enumerate(sub.recipients):
            notify = rcpt.notify or frozenset({Notify.FAILURE, Notify.DELAY})
            if conv.delivery_report:
                notify |= {Notify.SUCCESS}
            if Notify.NEVER in notify:
                notify = frozenset({Notify.NEVER})
            jobs.append(
                NewJob(
                    id=f"{queue_id}-{i}",
                    recipient=rcpt.number,
                    notify=notify,
                    rcpt_to=rcpt.address,
                    original_recipient=rcpt.original_recipient,
                    expires_at=now + self.settings.expiry_s,
                    dedup_key=self._dedup_key(sub.sender, conv.mail_message_id, rcpt.number),
                    dedup_after=now - self.settings.duplicate_window_s,
                )
            )
        return message, jobs

    def _dedup_key(self, sender: str, mail_message_id: str | None, number: MSISDN) -> str | None:
        """What makes two submissions the same mail to the same phone: sender, Message-ID and number (a digest,
        so that no header text reaches the store's index)."""
        if not self.settings.duplicate_window_s or not mail_message_id:
            return None
        key = "\0".join((sender.lower(), mail_message_id.strip(), number.e164))
        return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    async def _convert(
        self, raw: bytes, sub: Submission, profile: Profile, queue_id: str
    ) -> Refusal | tuple[bytes, Conversion]:
        options = dataclasses.replace(
            self.settings.convert, notify_success=any(Notify.SUCCESS in r.notify for r in sub.recipients)
        )
        to = tuple(f"{r.number.e164}/TYPE=PLMN" for r in sub.recipients)

        def convert() -> tuple[bytes, Conversion]:
            with self.metrics.conversion_seconds.time():
                conv = convert_mail(raw, profile=profile, options=options)
                return encode_pdu(send_req(conv, transaction_id=queue_id, to=to)), conv

        try:
            if len(raw) <= INLINE_BYTES and not _ENCODED_MEDIA.search(raw):
                # a small mail of text alone converts in a fraction of a millisecond: a thread hop would cost more
                return convert()
            future = asyncio.get_running_loop().run_in_executor(self.executor, convert)
            deadline = self.settings.conversion_deadline_s
            try:
                return await asyncio.wait_for(asyncio.shield(future), deadline)
            except TimeoutError:
                log.warning("intake=deferred reason=conversion-deadline seconds=%s", deadline)
                refusal = Refusal(f"451 4.3.0 Converting this message took over {deadline:g} s, try again later")
                raise _Overrun(future, refusal) from None
        except ConversionRefused as exc:
            log.info("intake=refused status=%s reason=%r", exc.status, exc.reason)
            return Refusal(f"554 {exc.status} {exc.reason}")
        except (EncodeError, DecodeError) as exc:
            # what the mail holds cannot be written as an MMS: the mail's fault, said without a traceback
            log.info("intake=refused status=5.6.0 reason=%r", str(exc))
            return Refusal("554 5.6.0 The message cannot be made into an MMS")
        except _Overrun:
            raise
        except Exception:
            # a bug of ours met by this mail: "later", with the trace for us; the sender's MTA keeps the mail
            log.exception("intake=conversion-failed")
            return Refusal("451 4.3.0 Local error in processing, try again later")

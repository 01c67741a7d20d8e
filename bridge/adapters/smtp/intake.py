"""SMTP intake decisions, as aiosmtpd handler hooks that return the SMTP reply.

MAIL: who may send (authenticated users, an allow-list of addresses and domains) and a per-sender rate limit
(450 4.7.1). RCPT: `recipients.parse_recipient` (relaying refused, numbers to E.164), at most
`max_recipients` (452 4.5.3). DATA: DKIM per sender-domain policy (dkimpy; 550 5.7.20 when required and
missing), the verdict recorded in an `Authentication-Results` header; conversion to MMS in a bounded thread
pool (554 with the converter's enhanced code and reason); the job committed durably, then and only then
`250 2.0.0 queued as <id>`. A store failure is `451 4.3.0`, so the client tries again. A conversion past
`conversion_deadline_s` is deferred (`451 4.3.0`, the sender's MTA tries again later; every conversion step is
linear in its input, so this bounds a mail's cost, not its size); small text mails never wait behind large ones.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bridge import ids
from bridge.adapters.smtp.dkim import DkimChecker
from bridge.adapters.smtp.recipients import RecipientPolicy, Refusal, parse_recipient
from bridge.adapters.store.base import JobStore, NewJob
from bridge.codec.mms import encode_pdu
from bridge.convert.compose import ConversionRefused, ConvertOptions, convert_mail, send_req
from bridge.convert.profile import Profile, strictest
from bridge.errors import DecodeError, EncodeError, StoreError
from bridge.model import MSISDN, Notify, StoredMessage

log = logging.getLogger("bridge.intake")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeSettings:
    hostname: str
    recipients: RecipientPolicy
    max_recipients: int
    require_auth: bool
    allowed_senders: tuple[str, ...]
    rate_limit_per_minute: int
    expiry_s: float
    profile: Profile
    convert: ConvertOptions
    #: a conversion still running after this long is answered 451 4.3.0 (the sender's MTA tries again later)
    conversion_deadline_s: float = 60.0
    #: the budget of the route that takes a number (`[[route]]` profile); None: `profile` for every number
    route_profile: Callable[[MSISDN], Profile] | None = None


#: mails up to this size with no base64 or uuencoded part (no picture to decode) are converted in the event loop
INLINE_BYTES = 16 * 1024
_ENCODED_MEDIA = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*(?:base64|x-uuencode|x-uue)|^begin [0-7]{3} ")


class _Overrun(Exception):
    """A conversion past its deadline: the reply to give now, and the thread's future still running."""

    def __init__(self, future: asyncio.Future[Any], reply: str) -> None:
        super().__init__(reply)
        self.future = future
        self.reply = reply


def _sender_allowed(sender: str, allowed: tuple[str, ...]) -> bool:
    sender = sender.lower()
    domain = "@" + sender.rpartition("@")[2]
    return any(a.lower() in (sender, domain) for a in allowed)


class IntakeHandler:
    def __init__(
        self,
        *,
        settings: IntakeSettings,
        store: JobStore,
        dkim: DkimChecker,
        executor: ThreadPoolExecutor,
        conversions: int,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dkim = dkim
        self.executor = executor
        self.on_queued = on_queued
        self.clock = clock
        self.shutting_down = False
        #: DATA transactions between the 354 and the reply (counted by the protocol); shutdown waits for them
        self.in_flight = 0
        # mails read, converted and committed at once: each holds its whole text in memory
        self._gate = asyncio.Semaphore(max(1, conversions))
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = ["250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-DSN"]
        return [responses[0], *extra, *responses[1:]]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        if self.shutting_down:
            return "421 4.3.2 Service shutting down, try again later"
        s = self.settings
        if s.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address == "<>":
            address = ""
        if s.allowed_senders and not session.authenticated and not _sender_allowed(address, s.allowed_senders):
            return f"550 5.7.1 <{address}> may not send through this gateway"
        if s.rate_limit_per_minute and address:
            now = self.clock()
            sent = self._sent[address.lower()]
            while sent and sent[0] <= now - 60:
                sent.popleft()
            if len(sent) >= s.rate_limit_per_minute:
                return f"450 4.7.1 Too many mails from <{address}>, try again later"
            sent.append(now)
        envelope.mail_from = address
        envelope.null_sender = not address
        envelope.mail_options.extend(mail_options)
        envelope.msisdns = []
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.shutting_down:
            return "421 4.3.2 Service shutting down, try again later"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return f"452 4.5.3 Too many recipients (at most {self.settings.max_recipients} per mail)"
        result = parse_recipient(address, self.settings.recipients)
        if isinstance(result, Refusal):
            return result.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.msisdns.append(result)
        return f"250 2.1.5 Recipient OK ({result.masked})"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return await self._data(envelope)

    async def _data(self, envelope: Any) -> str:
        started = self.clock()
        if envelope.spool_path is None and len(envelope.content or b"") <= INLINE_BYTES:
            # a small mail holds little memory and converts in well under a millisecond: it never queues behind
            # the large ones at the gate, so no large mail can hold up its reply
            prepared = await self._prepare(envelope)
        else:
            await self._gate.acquire()  # reading and converting hold the whole mail; committing does not
            try:
                prepared = await self._prepare(envelope)
            except _Overrun as overrun:
                # the thread cannot be stopped: its slot stays taken until it ends, so that a client sending
                # the same mail again and again cannot pile up conversions
                overrun.future.add_done_callback(lambda _: self._gate.release())
                return overrun.reply
            except BaseException:
                self._gate.release()
                raise
            self._gate.release()
        if isinstance(prepared, str):
            return prepared
        message, jobs = prepared
        try:
            await self.store.put(message, jobs)
        except StoreError as exc:
            log.error("intake=store-failed error=%r", exc)
            return "451 4.3.0 Temporary storage failure, try again later"
        self.on_queued()
        log.info(
            "message=%s state=queued recipients=%d bytes=%d mms_bytes=%d ms=%d",
            message.id,
            len(jobs),
            envelope.spool_size,
            len(message.mms),
            (self.clock() - started) * 1000,
        )
        return f"250 2.0.0 queued as {message.id}"

    async def _prepare(self, envelope: Any) -> str | tuple[StoredMessage, list[NewJob]]:
        """The stored message and its jobs, or the reply that refuses the mail."""
        raw = (
            envelope.content if envelope.spool_path is None else await asyncio.to_thread(envelope.spool_path.read_bytes)
        )
        sender = envelope.mail_from or ""
        verdict = await self.dkim.check(raw, sender)
        if verdict.reject and verdict.result == "temperror":
            return "451 4.7.5 DKIM key lookup failed, try again later"
        if verdict.reject:
            return "550 5.7.20 No valid DKIM signature for the sender's domain"
        raw = f"Authentication-Results: {self.settings.hostname}; {verdict.header}\r\n".encode() + raw
        dsn = envelope.dsn
        notify_success = any("SUCCESS" in n for n, _ in dsn.recipients)
        options = ConvertOptions(
            trim_signature=self.settings.convert.trim_signature,
            trim_quotes=self.settings.convert.trim_quotes,
            max_slide_text_chars=self.settings.convert.max_slide_text_chars,
            max_text_chars=self.settings.convert.max_text_chars,
            notify_success=notify_success,
        )
        loop = asyncio.get_running_loop()
        msisdns: list[MSISDN] = envelope.msisdns
        to = tuple(f"{m.e164}/TYPE=PLMN" for m in msisdns)
        queue_id = ids.token_hex(8)
        route_profile = self.settings.route_profile
        profile = strictest([route_profile(m) for m in msisdns]) if route_profile else self.settings.profile

        def convert() -> tuple[bytes, Any]:
            conv = convert_mail(raw, profile=profile, options=options)
            return encode_pdu(send_req(conv, transaction_id=queue_id, to=to)), conv

        try:
            if len(raw) <= INLINE_BYTES and not _ENCODED_MEDIA.search(raw):
                # a small mail of text alone converts in a fraction of a millisecond: a thread hop would cost more
                mms, conv = convert()
            else:
                future = loop.run_in_executor(self.executor, convert)
                try:
                    mms, conv = await asyncio.wait_for(asyncio.shield(future), self.settings.conversion_deadline_s)
                except TimeoutError:
                    log.warning(
                        "intake=deferred reason=conversion-deadline seconds=%s", self.settings.conversion_deadline_s
                    )
                    reply = (
                        f"451 4.3.0 Converting this message took over {self.settings.conversion_deadline_s:g} s, "
                        "try again later"
                    )
                    raise _Overrun(future, reply) from None
        except ConversionRefused as exc:
            log.info("intake=refused status=%s reason=%r", exc.status, exc.reason)
            return f"554 {exc.status} {exc.reason}"
        except (EncodeError, DecodeError) as exc:
            # what the mail holds cannot be written as an MMS: the mail's fault, said without a traceback
            log.info("intake=refused status=5.6.0 reason=%r", str(exc))
            return "554 5.6.0 The message cannot be made into an MMS"
        except _Overrun:
            raise
        except Exception:
            # a bug of ours met by this mail: "later", with the trace for us; the sender's MTA keeps the mail
            log.exception("intake=conversion-failed")
            return "451 4.3.0 Local error in processing, try again later"
        now = self.clock()
        message = StoredMessage(
            id=queue_id,
            mail_from=sender,
            received_at=now,
            raw=raw,
            mms=mms,
            envid=dsn.envid,
            ret_full=dsn.ret == "FULL",
            auto_submitted=conv.auto_submitted,
            subject=conv.subject,
        )
        jobs = []
        for i, (msisdn, rcpt) in enumerate(zip(msisdns, envelope.rcpt_tos, strict=True)):
            notify_words, orcpt = dsn.recipients[i] if i < len(dsn.recipients) else (frozenset(), None)
            notify = frozenset(Notify(n) for n in notify_words) or frozenset({Notify.FAILURE, Notify.DELAY})
            if conv.delivery_report:
                notify |= {Notify.SUCCESS}
            if Notify.NEVER in notify:
                notify = frozenset({Notify.NEVER})
            jobs.append(
                NewJob(
                    id=f"{queue_id}-{i}",
                    recipient=msisdn,
                    notify=notify,
                    rcpt_to=rcpt,
                    original_recipient=orcpt,
                    expires_at=now + self.settings.expiry_s,
                )
            )
        return message, jobs

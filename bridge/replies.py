"""The reply path: a phone's answer — an SMS through SMPP or Kannel, an MMS through MM7, a REST provider's inbound
message — becomes a mail from `<number>@<bridge domain>` to whoever last wrote to that number through the bridge,
threaded under the mails it answers, so that an alert or a conversation runs both ways (replying to that mail
reaches the phone again through the normal intake).

Rules (issue 17):
- the conversation (the last address that mailed the number within `window_s`, the Message-IDs sent) is recorded
  by the store with every mail that has a sender; bounces (null sender) and Auto-Submitted mails start none, so a
  phone's answer never goes to a mailer daemon or an auto-responder and no loop forms;
- a number with no conversation reaches `forward_to` when it is set; otherwise its answer is refused and logged;
- at most `max_per_hour` answers per number (counted in the store: every bridge on one database together);
- a reply with neither text nor media is dropped (an empty SMS).

The caller learns the outcome: a transport that can say "try again" (SMPP, Kannel, an MMSC) does so when the
mail could not be handed on (`TemporaryFailure` from the mail sender, `StoreError`): the answer is not lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bridge.adapters.mail.base import MailSender
from bridge.adapters.store.base import ConversationStore, LimitStore
from bridge.convert.mdn import ReplyPart, reply_mail
from bridge.logs import shown
from bridge.metrics import Metrics
from bridge.model import MSISDN

log = logging.getLogger("bridge.replies")


class ReplyStore(ConversationStore, LimitStore, Protocol):
    """What the reply path needs of the store."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplySettings:
    domain: str
    window_s: float = 7 * 86_400.0
    forward_to: str = ""
    max_per_hour: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneReply:
    """What a phone sent us: its text, and the media of an MMS in the order its slides show them."""

    sender: MSISDN
    text: str = ""
    subject: str = ""
    parts: tuple[ReplyPart, ...] = ()
    #: the way it came, for the log ("smpp", "kannel", "mm7 op", "twilio tw", ...)
    via: str = ""
    #: the mail it answers, when the way in knows it (an MM7 LinkedID's message): its sender and Message-ID
    reply_to: str | None = None
    in_reply_to: str | None = None


class ReplyOutcome(StrEnum):
    SENT = "sent"
    FORWARDED = "forwarded"
    NO_CONVERSATION = "no-conversation"
    RATE_LIMITED = "rate-limited"
    EMPTY = "empty"


class Replies:
    def __init__(
        self,
        *,
        settings: ReplySettings,
        store: ReplyStore,
        mailer: MailSender,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.metrics = metrics or Metrics()

    async def take(self, reply: PhoneReply, *, forward_to: str = "") -> ReplyOutcome:
        """Hand the reply on as a mail (or refuse it, logged); `forward_to` (a route's own) before the configured
        one for a number with no conversation. Raises `TemporaryFailure`/`StoreError` when it could not be handed
        on now (the transport should have it offered again)."""
        s, now, number = self.settings, self.clock(), reply.sender
        forward_to = forward_to or s.forward_to
        if not reply.text.strip() and not reply.parts:
            return self._logged(reply, ReplyOutcome.EMPTY)
        conversation = await self.store.conversation(number.e164, since=now - s.window_s)
        ids: Sequence[str] = ()
        if reply.reply_to:
            to, outcome, subject = reply.reply_to, ReplyOutcome.SENT, reply.subject
        elif conversation is not None:
            to, outcome, ids = conversation.address, ReplyOutcome.SENT, conversation.message_ids
            subject = reply.subject or (f"Re: {conversation.subject}" if conversation.subject else "")
        elif forward_to:
            to, outcome, subject = forward_to, ReplyOutcome.FORWARDED, reply.subject
        else:
            return self._logged(reply, ReplyOutcome.NO_CONVERSATION)
        if s.max_per_hour and not await self.store.count_send(
            f"reply:{number.e164}", limit=s.max_per_hour, window_s=3600.0, now=now
        ):
            return self._logged(reply, ReplyOutcome.RATE_LIMITED)
        sender = f"{number.e164.removeprefix('+')}@{s.domain}"
        text = ReplyPart(content_type="text/plain; charset=utf-8", data=reply.text.encode(), filename=None)
        parts = [text, *reply.parts] if reply.text.strip() else list(reply.parts)
        in_reply_to = reply.in_reply_to or (ids[-1] if ids else None)
        data = reply_mail(
            sender=sender,
            to=to,
            subject=subject or f"Message from {number.e164}",
            parts=parts,
            in_reply_to=in_reply_to,
            references=ids,
        )
        await self.mailer.send(mail_from=sender, to=to, data=data)
        self.metrics.reports_sent.labels(kind="reply").inc()
        return self._logged(reply, outcome, media=len(reply.parts))

    def _logged(self, reply: PhoneReply, outcome: ReplyOutcome, *, media: int = 0) -> ReplyOutcome:
        level = logging.INFO if outcome in (ReplyOutcome.SENT, ReplyOutcome.FORWARDED) else logging.WARNING
        log.log(
            level, "reply from=%s via=%s outcome=%s media=%d", shown(reply.sender), reply.via or "-", outcome, media
        )
        return outcome


def phone_number(raw: str) -> MSISDN | None:
    """The number an SMSC or provider gave for a phone ("+12015554567", "12015554567", "0012015554567"), as E.164;
    None when it is not one (an alphanumeric sender, a short code of 5 digits)."""
    digits = raw.strip().removeprefix("+")
    if digits.startswith("00"):
        digits = digits[2:]
    try:
        return MSISDN(e164=f"+{digits}")
    except ValueError:
        return None

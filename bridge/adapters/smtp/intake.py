"""The SMTP (and LMTP) way into the intake use case (`bridge.intake`), as aiosmtpd handler hooks that return the
SMTP reply: glue only. MAIL asks the use case whether the sender may send; RCPT which number an address reaches;
DATA hands it a typed `Submission` — the envelope, the mail (in memory or spooled), the AUTH identity, and the
DKIM check (dkimpy; `550 5.7.20` when required and missing, `451 4.7.5` when the key cannot be looked up) — and
answers with the use case's verdict. What is the protocol's own stays here: EHLO's extensions, the 421 of a
shutdown, and the count of transactions in flight that a graceful shutdown waits for.
"""

from __future__ import annotations

from typing import Any

from aiosmtpd.smtp import Session

from bridge.adapters.smtp.dkim import DkimChecker
from bridge.adapters.smtp.server import BridgeEnvelope
from bridge.intake import Intake, MailVerdict, Recipient, Submission
from bridge.model import MSISDN, Notify
from bridge.recipients import Refusal

SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"


class IntakeHandler:
    def __init__(self, *, intake: Intake, dkim: DkimChecker) -> None:
        self.intake = intake
        self.dkim = dkim
        self.shutting_down = False
        #: DATA transactions between the 354 and the reply (counted by the protocol); shutdown waits for them
        self.in_flight = 0

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: BridgeEnvelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = ["250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-DSN"]
        return [responses[0], *extra, *responses[1:]]

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: BridgeEnvelope, address: str, mail_options: list[str]
    ) -> str:
        if self.shutting_down:
            return SHUTTING_DOWN
        sender = "" if address == "<>" else address
        refusal = await self.intake.check_sender(sender, identity=_identity(session))
        if refusal is not None:
            return refusal.reply
        envelope.mail_from = sender
        envelope.null_sender = not sender
        envelope.mail_options.extend(mail_options)
        envelope.msisdns = []
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: BridgeEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.shutting_down:
            return SHUTTING_DOWN
        number = self.intake.check_recipient(address, accepted=len(envelope.rcpt_tos))
        if isinstance(number, Refusal):
            return number.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.msisdns.append(number)
        return f"250 2.1.5 Recipient OK ({number.masked})"

    async def handle_DATA(self, server: Any, session: Session, envelope: BridgeEnvelope) -> str:
        sender = envelope.mail_from or ""

        async def verify(raw: bytes) -> MailVerdict:
            verdict = await self.dkim.check(raw, sender)
            if verdict.reject and verdict.result == "temperror":
                return MailVerdict(refusal=Refusal("451 4.7.5 DKIM key lookup failed, try again later"))
            if verdict.reject:
                return MailVerdict(refusal=Refusal("550 5.7.20 No valid DKIM signature for the sender's domain"))
            return MailVerdict(header=verdict.header)

        dsn = envelope.dsn
        numbers: list[MSISDN] = envelope.msisdns
        recipients = []
        for i, (number, address) in enumerate(zip(numbers, envelope.rcpt_tos, strict=True)):
            words, orcpt = dsn.recipients[i] if i < len(dsn.recipients) else (frozenset(), None)
            recipients.append(
                Recipient(
                    address=address,
                    number=number,
                    notify=frozenset(Notify(w) for w in words),
                    original_recipient=orcpt,
                )
            )
        submission = Submission(
            sender=sender,
            recipients=tuple(recipients),
            raw=envelope.content,
            spool_path=envelope.spool_path,
            size=envelope.spool_size,
            envid=dsn.envid,
            ret_full=dsn.ret == "FULL",
            identity=_identity(session),
            verify=verify,
        )
        return (await self.intake.submit(submission)).reply


def _identity(session: Session) -> str | None:
    if not session.authenticated:
        return None
    login = session.login_data
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else str(login or "")

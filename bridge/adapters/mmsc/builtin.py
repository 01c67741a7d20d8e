"""The builtin MMSC's delivery side: tell the phone with a WAP Push, then wait for it to fetch the content.

Steps 3 to 5 of OMA-MMS-CTR's MM1 flow, MMSC side: an m-notification-ind (OMA-MMS-ENC 6.2) whose
Content-Location is `<public_url>/m/<token>` goes out through the configured `PushSender`; the job is pending
until the phone fetches the URL or answers (`bridge.adapters.mmsc.web` records that on the job); each call of
`deliver` while nothing came back sends the same notification again (same token, same Transaction-Id), as the
worker's re-notification schedule asks.

The phone's answers, decided here:
- fetched, or m-notifyresp-ind Retrieved / m-acknowledge-ind: delivered;
- Rejected: permanent failure 5.7.1 (the recipient refused it);
- Unrecognised: permanent failure 5.6.0 (the phone could not read the notification);
- Deferred: pending, no further notification (the user fetches it by hand, or it expires).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from bridge.adapters.mmsc.base import PENDING_STATUS, Delivery, handset_outcome, stored_request
from bridge.adapters.sms.base import PushSender
from bridge.codec.mms import encode_pdu
from bridge.convert.notification import content_location, notification_push
from bridge.errors import PermanentFailure, TemporaryFailure
from bridge.metrics import Metrics
from bridge.model import Job, StoredMessage


class BuiltinMMSC:
    name = "builtin"

    def __init__(
        self,
        *,
        push: PushSender,
        public_url: str,
        sender_in_notification: bool = True,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        transport: str = "sms",
    ) -> None:
        self.metrics = metrics or Metrics()
        self.transport = transport
        self.push = push
        self.public_url = public_url
        self.sender_in_notification = sender_in_notification
        self.clock = clock

    async def close(self) -> None:
        pass

    async def ready(self) -> str | None:
        return await self.push.ready()

    async def send_text(self, job: Job, text: str) -> str | None:
        """One plain SMS through the notifications' SMS transport (the SMS with a link)."""
        return await self.push.send_text(to=job.recipient, text=text)

    async def deliver(self, job: Job, message: StoredMessage) -> Delivery:
        answered = handset_outcome(job, mmsc_id=job.id)
        if answered is not None:
            return answered
        request = stored_request(message.mms)
        sender = request.sender if self.sender_in_notification and isinstance(request.sender, str) else None
        notification, segments = notification_push(
            transaction_id=job.token,
            content_location=content_location(self.public_url, job.token),
            # the m-retrieve-conf differs from the stored m-send-req by a few header octets only
            message_size=len(message.mms),
            expiry=timedelta(seconds=max(60, int(job.expires_at - self.clock()))),
            reference=int.from_bytes(job.token.encode()[:1], "big"),
            sender=sender,
            subject=request.subject,
            gateway_overhead=self.push.push_overhead,
        )
        try:
            sms_id = await self.push.send(to=job.recipient, user_data=segments, pdu=encode_pdu(notification))
        except (TemporaryFailure, PermanentFailure) as exc:
            result = "temporary-failure" if isinstance(exc, TemporaryFailure) else "permanent-failure"
            self.metrics.notifications.labels(transport=self.transport, result=result).inc()
            raise
        self.metrics.notifications.labels(transport=self.transport, result="sent").inc()
        return Delivery(
            mmsc_id=job.id,
            pending=True,
            status=PENDING_STATUS,
            detail=f"notified in {len(segments)} SMS (sms id {sms_id or '-'}); waiting for the phone",
        )

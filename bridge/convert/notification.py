"""The m-notification-ind that tells a phone an MMS waits at a URL, and the SMS user data that carries it.

Follows OMA-MMS-ENC 1.3 6.2 and DESIGN.md's Android notes: the six headers Android requires are always there
(MMS-Version, Transaction-Id, Message-Class, Message-Size as a Long-integer, Expiry, Content-Location); From
and Subject are optional and dropped, Subject first, when keeping them would make the push need a second SMS.
"""

from __future__ import annotations

from datetime import timedelta

from bridge.codec.mms import MessageClass, MmsVersion, NotificationInd, encode_pdu
from bridge.codec.wap_push import encode_wsp_push, segment_push


def content_location(public_url: str, token: str) -> str:
    """Where the phone fetches the message: the builtin MMSC's `/m/<token>` under its public URL."""
    return f"{public_url.rstrip('/')}/m/{token}"


def notification_push(
    *,
    transaction_id: str,
    content_location: str,
    message_size: int,
    expiry: timedelta,
    reference: int,
    sender: str | None = None,
    subject: str | None = None,
    mms_version: int = MmsVersion.V1_2,
    gateway_overhead: int = 0,
) -> tuple[NotificationInd, list[bytes]]:
    """The notification and the TP-User-Data of each SMS carrying it (one SMS whenever it can be done).

    `gateway_overhead`: octets a push gateway adds to the WSP push when it builds the push itself (a PPG writes
    longer WSP headers than ours); the choice of From and Subject then leaves room for them."""
    candidates = [(sender, subject), (sender, None), (None, None)]
    chosen: tuple[NotificationInd, list[bytes]] | None = None
    for from_, subj in candidates:
        ind = NotificationInd(
            transaction_id=transaction_id,
            mms_version=mms_version,
            sender=from_,
            subject=subj,
            message_class=MessageClass.PERSONAL,
            message_size=message_size,
            expiry=expiry,
            content_location=content_location,
        )
        push = encode_wsp_push(encode_pdu(ind))
        segments = segment_push(push, reference=reference)
        chosen = (ind, segments)
        if len(segments) == 1 and len(segment_push(push + bytes(gateway_overhead), reference=reference)) == 1:
            break
    assert chosen is not None
    return chosen

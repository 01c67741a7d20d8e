"""Short messages from phones (mobile-originated, "MO") as whole texts: the segments of a concatenated message
put back together — by the user data header (TS 23.040 9.2.3.24.1/.8, esm_class UDHI) or SMPP's `sar_*` TLVs
(SMPP 3.4 5.3.2.22-24) — and decoded once whole (a UCS-2 character or a GSM escape may straddle two segments).

Incomplete messages wait at most `max_wait_s` and at most `max_pending` of them are kept (the oldest dropped,
logged): a phone or SMSC sending endless first segments cannot grow memory.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bridge.codec.smpp import ESM_UDHI, ShortMessage, Tag
from bridge.codec.sms_text import Segment, decode_text, split_udh
from bridge.errors import DecodeError

log = logging.getLogger("bridge.sms")


@dataclass(frozen=True, slots=True, kw_only=True)
class MOText:
    """A whole text a phone sent: `sender` as the SMSC gave it (digits, maybe with + or 00)."""

    sender: str
    text: str


class MOAssembler:
    def __init__(
        self, *, max_wait_s: float = 600.0, max_pending: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_wait_s = max_wait_s
        self.max_pending = max_pending
        self.clock = clock
        self._pending: OrderedDict[tuple[str, str, int, int], tuple[float, int, dict[int, bytes]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        """Messages with segments still missing."""
        return len(self._pending)

    def take(self, sm: ShortMessage) -> MOText | None:
        """The whole text once `sm` completes it; None while segments are missing. A segment that cannot be read
        raises `DecodeError` (the SMSC is answered with an error for it)."""
        data = sm.short_message or (sm.tlv(Tag.MESSAGE_PAYLOAD) or b"")
        segment: Segment | None = None
        if sm.esm_class & ESM_UDHI:
            segment, data = split_udh(data)
        else:
            ref, total, number = (
                sm.tlv(t) for t in (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
            )
            if ref is not None and total and number:
                segment = Segment(reference=int.from_bytes(ref, "big"), total=total[0], number=number[0])
                if not 1 <= segment.number <= segment.total:
                    raise DecodeError(0, f"sar segment {segment.number} of {segment.total}")
        if segment is None or segment.total == 1:
            return MOText(sender=sm.source_addr, text=decode_text(data, sm.data_coding))
        return self._join(sm, segment, data)

    def _join(self, sm: ShortMessage, segment: Segment, data: bytes) -> MOText | None:
        now = self.clock()
        while self._pending and next(iter(self._pending.values()))[0] < now - self.max_wait_s:
            key, _ = self._pending.popitem(last=False)
            log.warning("sms mo=incomplete dropped=yes reference=%d (its other segments did not come)", key[2])
        key = (sm.source_addr, sm.destination_addr, segment.reference, segment.total)
        started, coding, parts = self._pending.get(key, (now, sm.data_coding, {}))
        parts[segment.number] = data
        self._pending[key] = (started, coding, parts)
        if len(parts) < segment.total:
            if len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
                log.warning("sms mo=incomplete dropped=yes (too many waiting)")
            return None
        del self._pending[key]
        whole = b"".join(parts[n] for n in range(1, segment.total + 1))
        return MOText(sender=sm.source_addr, text=decode_text(whole, coding))
